"""Click commands, one module each; ``scaffolder.cli.COMMANDS`` loads them on demand."""
