"""The harness around the cases: interruption, report output."""
