import Synchronization

extension ClusterSecurity {
    private static let installed = Mutex(ClusterSecurity.insecure)

    /// The security every server and client in this process uses unless told otherwise.
    /// A service's `main` sets it once from its flags before building anything
    /// (`ServiceRunner.run`), as does the `tessera` CLI; so each of the many places that
    /// dial a peer (client pools, health probes, downloads) gets the same certificates
    /// without threading them through. Tests that start services in-process keep the
    /// default (plaintext) or pass a value explicitly.
    public static var processWide: ClusterSecurity {
        get { installed.withLock { $0 } }
        set { installed.withLock { $0 = newValue } }
    }
}
