"""What a project goes through, one module per command that spans the domain packages: ``new``,
``update``, ``check``, ``doctor``, and the summary and git repository ``new`` ends with."""
