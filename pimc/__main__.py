from pimc.cli import main

raise SystemExit(main())
