from harness.run._cli import main

raise SystemExit(main())
