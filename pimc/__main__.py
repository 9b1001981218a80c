from pimc.cli import program

program()
