"""One module per subcommand: `register(subparsers)` and a function returning an exit code."""
