import RRCtl

RRCtlCommand.main()
