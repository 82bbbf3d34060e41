from qaclims.cli import main

raise SystemExit(main())
