import Foundation

/// Resource figures of the current process: benchmark reports, `tessera eval`'s resident
/// column, a worker's reported memory use.
public enum ProcessMetrics {
    /// The resident set now, in bytes (Linux `/proc/self/statm`, second field, in pages):
    /// mapped weight pages that were read, packed weight copies, KV caches and workspace
    /// once written. 0 where unavailable.
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
            return 0
        }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Peak resident set size so far, in bytes (Linux reports ru_maxrss in KiB).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return usage.ru_maxrss * 1024
        #else
            getrusage(RUSAGE_SELF, &usage)
            return usage.ru_maxrss
        #endif
    }
}
