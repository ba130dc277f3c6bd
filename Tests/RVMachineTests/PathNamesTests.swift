import RVPlatform
import XCTest

/// The path parts rrctl takes from its images' and executable's paths (as NSString's path methods gave them).
final class PathNamesTests: XCTestCase {
    func testParentDirectory() {
        let cases = ["/a/b/c": "/a/b", "/a": "/", "a/b": "a", "a": ".", "/": "/", "./x": ".", "/a/b/": "/a/b"]
        for (path, expected) in cases { XCTAssertEqual(parentDirectory(of: path), expected, path) }
    }

    func testLastPathComponent() {
        let cases = ["/a/b/c.img": "c.img", "a/b/": "b", "a": "a", "/": "/", "": "", "//x//": "x", "/a b/c d": "c d"]
        for (path, expected) in cases { XCTAssertEqual(lastPathComponent(of: path), expected, path) }
    }
}
