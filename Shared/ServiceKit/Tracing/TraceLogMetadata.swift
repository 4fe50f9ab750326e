import Logging
import OTel

/// `trace_id` and `span_id` of the span active where a line is logged (none when tracing is
/// off or no span is active): the link from a log line to its trace in Jaeger or Tempo.
public enum TraceLogMetadata {
    public static let provider: Logger.MetadataProvider = OTel.makeLoggingMetadataProvider()
}
