import Foundation
import GGUF

/// Where ImportModel may read from: paths a client names are resolved (symbolic links,
/// `..`) and must lie inside one of the configured directories, checked before the file is
/// opened, so a caller cannot make the cache-manager read `/etc/passwd` or a key and answer
/// with a piece of it. Start-up `--preload` paths are the operator's own and are not confined.
public struct ImportConfinement: Sendable {
    /// Resolved directories; empty means no path may be imported over the API.
    let directories: [String]

    /// The model directory, where known models are fetched.
    public static var defaultDirectories: [String] { [ModelLocator.modelDirectory] }

    public init(directories: [String]) {
        self.directories = directories.map { Self.resolve($0) }
    }

    /// The resolved path, or `ModelLibraryError.importPathOutside` naming the directories.
    func check(_ rawPath: String) throws(ModelLibraryError) -> String {
        let path = Self.resolve(rawPath)
        for directory in directories {
            let prefix = directory.hasSuffix("/") ? directory : directory + "/"
            if path.hasPrefix(prefix) { return path }
        }
        throw .importPathOutside(path: rawPath, allowed: directories)
    }

    /// Absolute, with `..` and symbolic links resolved as far as the path exists.
    static func resolve(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
