"""The public surface of carbonplane.http is pinned: changing it is a deliberate act."""

import carbonplane.http as http


def test_all_is_pinned():
    assert sorted(http.__all__) == sorted(
        [
            "CONNECTION_CLOSED",
            "END_OF_MESSAGE",
            "FRAMING_CHUNKED",
            "FRAMING_CLOSE",
            "FRAMING_LENGTH",
            "FRAMING_NONE",
            "NEED_DATA",
            "ChunkedDecoder",
            "Forwarding",
            "Headers",
            "Limits",
            "RequestHead",
            "RequestHeadParser",
            "RequestReader",
            "ResponseHead",
            "ResponseHeadParser",
            "ResponseReader",
            "encode_chunk",
            "normalize_path",
            "split_target",
        ]
    )
    for name in http.__all__:
        assert hasattr(http, name), name
