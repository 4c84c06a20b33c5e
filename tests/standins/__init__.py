"""Loopback stand-ins for the network services the workbench talks to."""
