from av1tools.cli import main

main()
