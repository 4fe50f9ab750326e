/// A network path: seconds to move `bytes` = latency + bytes / bandwidth.
public struct Link: Sendable, Hashable, Codable {
    public var latencySeconds: Double
    public var bytesPerSecond: Double

    public init(latencySeconds: Double, bytesPerSecond: Double) {
        self.latencySeconds = latencySeconds
        self.bytesPerSecond = bytesPerSecond
    }

    public func seconds(bytes: Int) -> Double { latencySeconds + Double(bytes) / bytesPerSecond }

    /// 1 ms and 1 Gbit/s: a plain wired LAN.
    public static let lan = Link(latencySeconds: 0.001, bytesPerSecond: 125_000_000)
}

/// Costs of the links between workers and between the gateway and workers.
///
/// Lookup order for worker a → b: an explicit pair entry, else the link between their sites
/// (if both have a site and that site pair is known), else `defaultLink`. The gateway side
/// uses `gatewayLinks[worker]`, else `defaultGatewayLink`. Entries are directed; use the
/// `setting…` helpers to fill both directions.
public struct LinkModel: Sendable, Hashable, Codable {
    public var defaultLink: Link
    public var defaultGatewayLink: Link
    /// Site (rack, room, building) of each worker, for `siteLinks`.
    public var siteOfWorker: [String: String]
    public var siteLinks: [String: [String: Link]]
    public var pairLinks: [String: [String: Link]]
    public var gatewayLinks: [String: Link]

    public init(defaultLink: Link = .lan, defaultGatewayLink: Link? = nil) {
        self.defaultLink = defaultLink
        self.defaultGatewayLink = defaultGatewayLink ?? defaultLink
        siteOfWorker = [:]
        siteLinks = [:]
        pairLinks = [:]
        gatewayLinks = [:]
    }

    /// Every link the same.
    public static func uniform(_ link: Link) -> LinkModel { LinkModel(defaultLink: link) }

    public func link(from a: String, to b: String) -> Link {
        if let link = pairLinks[a]?[b] { return link }
        if let siteA = siteOfWorker[a], let siteB = siteOfWorker[b],
            let link = siteLinks[siteA]?[siteB]
        {
            return link
        }
        return defaultLink
    }

    public func gatewayLink(_ worker: String) -> Link { gatewayLinks[worker] ?? defaultGatewayLink }

    /// Measured or configured link for a → b (and b → a unless `symmetric` is false).
    public mutating func setLink(_ link: Link, from a: String, to b: String, symmetric: Bool = true)
    {
        pairLinks[a, default: [:]][b] = link
        if symmetric { pairLinks[b, default: [:]][a] = link }
    }

    /// Link between two sites, both directions; `siteA == siteB` sets the intra-site link.
    public mutating func setSiteLink(_ link: Link, between siteA: String, and siteB: String) {
        siteLinks[siteA, default: [:]][siteB] = link
        siteLinks[siteB, default: [:]][siteA] = link
    }
}
