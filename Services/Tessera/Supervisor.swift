import ServiceKit

/// The restart policy of `tessera up`: a member that dies is started again with the same
/// arguments (ports, worker id, shard directory), after a backoff that doubles from 0.5 s to
/// 10 s while it keeps dying and starts over once it has run for a minute. The others are
/// left alone: peers reconnect (workers re-register, the gateway's clients redial).
struct Supervisor {
    static let stableAfter: Duration = .seconds(60)

    private var backoffs: [String: Backoff] = [:]
    private var restartAt: [String: ContinuousClock.Instant] = [:]
    private var restarts: [String: Int] = [:]

    /// One pass: notices members that died (one line each via `say`) and starts those whose
    /// backoff has passed.
    mutating func tick(_ cluster: LocalCluster, say: (String) -> Void) {
        let now = ContinuousClock.now
        for member in cluster.members {
            if let due = restartAt[member.name] {
                guard now >= due else { continue }
                restartAt[member.name] = nil
                do {
                    try cluster.launch(member)
                } catch {
                    schedule(member, after: "could not be started (\(error))", cluster, say: say)
                }
            } else if let exit = cluster.exit(of: member) {
                if exit.ranFor >= Self.stableAfter { backoffs[member.name]?.reset() }
                let uptime = String(format: "%.1f", exit.ranFor.inSeconds)
                schedule(member, after: "\(exit) after \(uptime) s", cluster, say: say)
            }
        }
    }

    private mutating func schedule(
        _ member: LocalCluster.Member, after what: String, _ cluster: LocalCluster,
        say: (String) -> Void
    ) {
        var backoff =
            backoffs[member.name] ?? Backoff(initial: .milliseconds(500), maximum: .seconds(10))
        let delay = backoff.next()
        backoffs[member.name] = backoff
        restarts[member.name, default: 0] += 1
        restartAt[member.name] = .now + delay
        say(
            "\(member.name) \(what); restarting it in \(String(format: "%.1f", delay.inSeconds)) s (restart \(restarts[member.name]!), log: \(cluster.logPath(member)))"
        )
    }
}
