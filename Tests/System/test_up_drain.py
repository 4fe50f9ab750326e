"""Ctrl-C stops `tessera up` in order: the gateway first, which refuses new work and
finishes the streams in flight (the workers and the scheduler they need still run), then
everything else; every stream gets all its tokens and `tessera up` exits 0."""
import signal
import time

from test_up_supervision import SupervisedUp, stream_in_background, tokens, wait_for

STREAM_TOKENS = 200


def test_ctrl_c_drains_streams_in_flight(bin_dir, tmp_path, stubs):
    up = SupervisedUp(bin_dir, tmp_path, workers=2)
    try:
        up.wait_ready()
        streams = [stream_in_background(stubs, up.grpc_port, max_tokens=STREAM_TOKENS, prompt=prompt)
                   for prompt in ("Once upon a time, in a small village,", "The best way to learn programming is")]
        wait_for(lambda: all(len(tokens(record)) >= 10 for _, record, _ in streams), 60, "both streams")
        at_signal = [len(tokens(record)) for _, record, _ in streams]
        signalled = time.monotonic()
        up.proc.send_signal(signal.SIGINT)
        for thread, _, _ in streams:
            thread.join(timeout=90)
        streams_done = time.monotonic() - signalled
        up.proc.wait(timeout=60)
        exited = time.monotonic() - signalled
        up.reader.join(timeout=5)
    finally:
        up.stop()
    print(up.text().split("cluster ready")[1])
    print(f"tokens at SIGINT {at_signal}; streams done {streams_done:.2f}s and tessera up exited "
          f"{exited:.2f}s after SIGINT")
    for _, record, errors in streams:
        assert not errors, errors
        assert len(tokens(record)) == STREAM_TOKENS
    assert max(at_signal) < STREAM_TOKENS  # the signal came while both were streaming
    text = up.text()
    assert up.proc.returncode == 0, text
    assert "gateway drained in" in text, text
    assert "killed by signal" not in text and "exited with status" not in text, text
    assert text.rstrip().endswith("stopped"), text
