"""The built-ins' signal functions (pandas and numpy), each module imported on its strategy's first use."""
