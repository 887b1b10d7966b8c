from vlparse.cli import run

run()
