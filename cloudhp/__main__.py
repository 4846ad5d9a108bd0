from cloudhp.cli import main

main()
