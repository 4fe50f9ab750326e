// Every service speaks the cluster's domain vocabulary (addresses, references, routes).
@_exported import Cluster
