import RRNode

// One device model: `rrvm-device --run-dir DIR --device N --kind KIND`.
NodeMain.device(arguments: Array(CommandLine.arguments.dropFirst()))
