"""The `normdeploy` command line: one module per command (export, convert, inspect)."""
