"""The command line: ``kibako <noun> <verb>``. Modules import only Typer at the top; the rest inside commands,
so that ``kibako --help`` answers fast."""
