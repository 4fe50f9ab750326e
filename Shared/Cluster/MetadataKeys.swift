/// Names of the gRPC metadata entries Tessera's services pass each other.
public enum MetadataKeys {
    /// The worker a failed Forward call blames: set by the stage that saw the failure, read
    /// by the stages before it and by the gateway, which fails over avoiding that worker.
    public static let failedWorker = "tessera-failed-worker"
}
