import CLibUV
import Foundation

/// Makes this process die with its supervisor: the kernel sends SIGKILL when the parent exits, and a
/// parent that already died before we asked is caught by comparing getppid() with the expected pid.
public func dieWithParent(expectedParent: pid_t?) {
    _ = rrvm_set_parent_death_signal(SIGKILL)
    if let expectedParent, getppid() != expectedParent {
        exit(1)
    }
    // Ctrl-C (and a signal sent to the whole process group, as `timeout` does) reaches every process;
    // only the supervisor decides what it means, and it ends the others through the sequencer.
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    signal(SIGHUP, SIG_IGN)
    signal(SIGPIPE, SIG_IGN)
}

/// Sets the name shown by `ps -o comm`, `top` and gdb (15 bytes at most).
public func setProcessName(_ name: String) {
    _ = rrvm_set_process_name(name)
}

/// Writes "ROLE: message" to standard error.
public func report(_ role: String, _ message: String) {
    FileHandle.standardError.write(Data("\(role): \(message)\n".utf8))
}
