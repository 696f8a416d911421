"""Kernels in virtual machines: kernel specs, Debian resolution, images, guest roots, backends, ``kconform kernels``
and ``kconform vm``."""
