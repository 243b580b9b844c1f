from tsdiag.cli import main

main()
