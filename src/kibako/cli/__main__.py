from kibako.cli._app import main

main()
