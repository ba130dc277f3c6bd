import RRNode

// One vCPU: `rrvm-hart --run-dir DIR --hart N`.
NodeMain.hart(arguments: Array(CommandLine.arguments.dropFirst()))
