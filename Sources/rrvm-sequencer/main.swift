import RRNode

// The hub of a cluster: `rrvm-sequencer --run-dir DIR [--record FILE | --replay FILE] [--console-capture FILE]`.
NodeMain.sequencer(arguments: Array(CommandLine.arguments.dropFirst()))
