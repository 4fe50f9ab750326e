import Integrity

/// How long serving a request took, estimated from its commitments, for the share of compute
/// that checking costs: from the earliest to the latest commitment's time. A request's steps
/// run one after another through its stages, so that span is about what replaying every
/// stage on one machine repeats (network time included, the first stage's first step not).
/// Workers' clocks differ, so the span is kept between 0 and a day.
enum ServingTime {
    static func estimate(_ record: ReceiptRecord) -> Double {
        let times = record.leaves.map(\.unixMilliseconds)
        guard let first = times.min(), let last = times.max() else { return 0 }
        return min(max(Double(last) - Double(first), 0) / 1000, 86_400)
    }
}
