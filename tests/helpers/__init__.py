"""Programs the self-tests run kconform under: a user namespace mapped like a container's, a seccomp filter."""
