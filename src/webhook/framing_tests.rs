use std::io::Write;

use super::*;

fn request(body: &str, base64: bool, encoding: Option<&str>) -> FunctionUrlRequest {
    let mut headers = serde_json::Map::new();
    if let Some(encoding) = encoding {
        headers.insert("content-encoding".into(), encoding.into());
    }
    serde_json::from_value(serde_json::json!({
        "version": "2.0", "headers": headers, "body": body, "isBase64Encoded": base64,
        "requestContext": {"http": {"method": "POST"}}
    }))
    .unwrap()
}

const LIMITS: Limits = Limits {
    max_body_bytes: 1024,
    max_inflated_bytes: 4096,
};

fn gzip(bytes: &[u8]) -> String {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap())
}

#[test]
fn the_three_framings_give_the_same_lines() {
    let object = r#"{"event_id": "a", "n": 1.50}"#;
    assert_eq!(event_lines(object.as_bytes()).unwrap(), vec![object]);
    let ndjson = "{\"event_id\": \"a\"}\r\n\n  {\"event_id\":\"b\"}\n";
    assert_eq!(
        event_lines(ndjson.as_bytes()).unwrap(),
        vec![r#"{"event_id": "a"}"#, r#"{"event_id":"b"}"#]
    );
    let array =
        "[\n  {\"event_id\": \"a\",\n   \"s\": \"x y\\n\\\"z\\\" \"},\n  {\"event_id\":\"b\"}\n]";
    assert_eq!(
        event_lines(array.as_bytes()).unwrap(),
        vec![
            r#"{"event_id":"a","s":"x y\n\"z\" "}"#,
            r#"{"event_id":"b"}"#
        ]
    );
    assert_eq!(event_lines(b"[]").unwrap(), Vec::<String>::new());
    let pretty = "{\n \"event_id\" : \"a\"\n}";
    assert_eq!(
        event_lines(pretty.as_bytes()).unwrap(),
        vec![r#"{"event_id":"a"}"#]
    );
}

#[test]
fn errors_name_the_line_and_never_the_content() {
    let err = event_lines(b"{\"a\":1}\n{\"b\": SecretWord}\n").unwrap_err();
    assert!(matches!(err, BodyError::NotJson { line: 2, .. }), "{err:?}");
    assert!(!err.to_string().contains("SecretWord"), "{err}");
    let err = event_lines(b"{\"a\":1}\n[1]").unwrap_err();
    assert_eq!(err, BodyError::ArrayNotAlone { line: 2 });
    let err = event_lines(b"[{\"a\":1}]\n{\"b\":2}").unwrap_err();
    assert_eq!(err, BodyError::ArrayNotAlone { line: 2 });
    let err = event_lines(b"[{\"a\":1},\n 7]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: element 2 of the array is not a JSON object"
    );
    let err = event_lines(b"\n\"text\"").unwrap_err();
    assert_eq!(err.to_string(), "line 2: the value is not a JSON object");
    assert_eq!(event_lines(b"  \n").unwrap_err(), BodyError::Empty);
    let err = event_lines(b"{\"a\":1}\n{\"b\":\"\xff\"}").unwrap_err();
    assert_eq!(err, BodyError::NotUtf8 { line: 2 });
    let err = event_lines(b"{\"a\":").unwrap_err();
    assert_eq!(err.to_string(), "line 1 column 5: truncated JSON");
    assert_eq!(err.status(), 400);
}

#[test]
fn bodies_are_decoded_and_inflated_within_their_limits() {
    let text = "{\"a\":1}\n";
    assert_eq!(
        body_bytes(&request(text, false, None), LIMITS).unwrap(),
        text.as_bytes()
    );
    let zipped = gzip(text.as_bytes());
    assert_eq!(
        body_bytes(&request(&zipped, true, Some("gzip")), LIMITS).unwrap(),
        text.as_bytes()
    );
    // gzip recognized by its magic bytes, without the header
    assert_eq!(
        body_bytes(&request(&zipped, true, None), LIMITS).unwrap(),
        text.as_bytes()
    );
    let err = body_bytes(&request(text, false, Some("br")), LIMITS).unwrap_err();
    assert_eq!(err.status(), 415);
    let err = body_bytes(&request(&"x".repeat(1025), false, None), LIMITS).unwrap_err();
    assert_eq!(err.status(), 413);
    let err = body_bytes(&request(&"QUFB".repeat(400), true, None), LIMITS).unwrap_err();
    assert_eq!(err.status(), 413);
    let bomb = gzip(&vec![b' '; 5000]);
    let err = body_bytes(&request(&bomb, true, Some("gzip")), LIMITS).unwrap_err();
    assert_eq!(err, BodyError::InflatesTooLarge { limit: 4096 });
    assert_eq!(err.status(), 413);
    let err = body_bytes(&request("not base64!", true, None), LIMITS).unwrap_err();
    assert_eq!(err, BodyError::BadBase64);
    let truncated = &gzip(&vec![b'{'; 3000]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(truncated)
        .unwrap();
    let cut = base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() / 2]);
    let err = body_bytes(&request(&cut, true, Some("gzip")), LIMITS).unwrap_err();
    assert_eq!(err, BodyError::BadGzip);
}
