#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus

/// The file `rrctl up --record` writes, claimed before anything runs: never one of the run's images,
/// never a file another cluster is recording into (rrctl holds an exclusive lock on it for the whole
/// run), never something other than a regular file, and an existing file only with `--force`.
/// It is left mode 0600: a log holds everything typed on the console.
final class RecordingFile {
    let path: String
    private let descriptor: Int32

    init(path: String, force: Bool, images: [String]) throws {
        self.path = absolute(path)
        var info = stat()
        let exists = lstat(self.path, &info) == 0
        if exists {
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw NodeError("--record \(path): exists and is not a regular file")
            }
            for image in images {
                var imageInfo = stat()
                if stat(image, &imageInfo) == 0 && imageInfo.st_dev == info.st_dev && imageInfo.st_ino == info.st_ino {
                    throw NodeError("--record \(path) is \(image), one of this run's images")
                }
            }
            guard force else { throw NodeError("--record \(path): the file exists; give --force to overwrite it") }
        }
        let flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (exists ? 0 : O_CREAT | O_EXCL)
        descriptor = open(self.path, flags, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "the file exists; give --force to overwrite it" : String(cString: strerror(errno))
            throw NodeError("--record \(path): \(reason)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw NodeError("--record \(path): another cluster is recording into this file")
        }
        fchmod(descriptor, 0o600)
    }

    deinit { close(descriptor) }
}
