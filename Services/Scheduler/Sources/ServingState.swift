/// Where a served model is in its life at the scheduler: the named state machine of
/// "serving several models" (docs/caching.md).
///
///     cold ──request or pin──▶ loading ──a pipeline ready──▶ warm
///      ▲                        │  ▲                          │
///      │   no room, timeout,    │  └──every pipeline lost─────┤
///      └──────refused───────────┘                             │
///      └──────────── evicting ◀──idle, or room for another────┘
///
/// `cold`: only in the catalog, no pipeline. `loading`: planned, shards on their way (the
/// request that asked waits; its wait is its time to first token). `warm`: a ready
/// pipeline. `evicting`: its pipelines drain and its shards are unloaded; once none is
/// left it is cold again.
enum ServingState: Sendable, Equatable {
    case cold
    case loading(since: ContinuousClock.Instant)
    case warm
    case evicting

    /// The name the APIs show (`ListModelStates`, `/v1/models`, `tessera models`).
    var name: String {
        switch self {
        case .cold: "cold"
        case .loading: "loading"
        case .warm: "warm"
        case .evicting: "evicting"
        }
    }

    var isLoading: Bool {
        if case .loading = self { true } else { false }
    }

    /// Planned: its pipelines are wanted on the workers.
    var isActive: Bool {
        switch self {
        case .loading, .warm: true
        case .cold, .evicting: false
        }
    }
}

/// What the operator asked for a model: the cache-manager catalog's serving marks.
struct ServingMarks: Sendable, Equatable {
    /// 0: not pinned; N: always planned, with at least N pipelines.
    var pinReplicas = 0
    /// nil: the scheduler's `--idle-timeout-s`.
    var idleTimeout: Duration?

    var isPinned: Bool { pinReplicas > 0 }
}

/// Why a model that was asked for is cold, and until when requests are told so at once
/// (instead of starting another load that cannot succeed).
struct ServingRefusal: Sendable, Equatable {
    var reason: String
    var until: ContinuousClock.Instant
}
