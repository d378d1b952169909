from leastcap.cli.main import main

main()
