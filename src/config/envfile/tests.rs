//! The dotenv reader against python-dotenv's own test cases (tests/test_parser.py,
//! test_variables.py and test_main.py of theskumar/python-dotenv), ported as tables, plus the
//! forms docker compose adds and the errors we keep. Where we differ on purpose the row says
//! so; wrangle(1), ENV FILES, lists the same differences.

use super::*;
use std::collections::BTreeMap;

/// Bindings written as a table's cell.
type Pairs = &'static [(&'static str, &'static str)];

fn no_env(_: &str) -> Option<String> {
    None
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// python-dotenv's `test_parse_stream` table: input, then the bindings with a value. A row
/// python-dotenv marks `error=True` is `None` here: we refuse the file (python-dotenv warns and
/// skips the line). A name without `=` (`no_value_var`) has no value in python-dotenv and is
/// left out of the result by `load_dotenv`; here it takes the environment's value if there is
/// one (as docker compose does), so with an empty environment it is left out too.
#[test]
fn python_dotenv_parser_cases() {
    #[rustfmt::skip]
    let table: &[(&str, Option<Pairs>)] = &[
        ("", Some(&[])),
        ("a=b", Some(&[("a", "b")])),
        ("'a'=b", Some(&[("a", "b")])),
        ("[=b", Some(&[("[", "b")])),
        (" a = b ", Some(&[("a", "b")])),
        ("export a=b", Some(&[("a", "b")])),
        (" export 'a'=b", Some(&[("a", "b")])),
        ("# a=b", Some(&[])),
        ("a=b#c", Some(&[("a", "b#c")])),
        ("a=b #c", Some(&[("a", "b")])),
        ("a= #c", Some(&[("a", "")])),
        ("a=  # comment", Some(&[("a", "")])),
        ("a=#b", Some(&[("a", "#b")])),
        ("a=b\t#c", Some(&[("a", "b")])),
        ("a=b c", Some(&[("a", "b c")])),
        ("a=b\tc", Some(&[("a", "b\tc")])),
        ("a=b  c", Some(&[("a", "b  c")])),
        ("a=b\u{a0} c", Some(&[("a", "b\u{a0} c")])),
        ("a=b c ", Some(&[("a", "b c")])),
        ("a='b c '", Some(&[("a", "b c ")])),
        ("a=\"b c \"", Some(&[("a", "b c ")])),
        ("export export_a=1", Some(&[("export_a", "1")])),
        ("export port=8000", Some(&[("port", "8000")])),
        ("a=\"b\nc\"", Some(&[("a", "b\nc")])),
        ("a='b\nc'", Some(&[("a", "b\nc")])),
        ("a=\"b\\nc\"", Some(&[("a", "b\nc")])),
        ("a='b\\nc'", Some(&[("a", "b\\nc")])),
        ("a=\"b\\\"c\"", Some(&[("a", "b\"c")])),
        ("a='b\\'c'", Some(&[("a", "b'c")])),
        ("a=à", Some(&[("a", "à")])),
        ("a=\"à\"", Some(&[("a", "à")])),
        ("no_value_var", Some(&[])),
        ("a: b", None),
        ("a=b\nc=d", Some(&[("a", "b"), ("c", "d")])),
        ("a=b\rc=d", Some(&[("a", "b"), ("c", "d")])),
        ("a=b\r\nc=d", Some(&[("a", "b"), ("c", "d")])),
        ("a=\nb=c", Some(&[("a", ""), ("b", "c")])),
        ("\n\n", Some(&[])),
        ("a=b\n\n", Some(&[("a", "b")])),
        ("a=b\n\nc=d", Some(&[("a", "b"), ("c", "d")])),
        // python-dotenv: line 1 is an error, b=c is still read. We refuse the file.
        ("a=\"\nb=c", None),
        ("# comment\na=\"b\nc\"\nd=e\n", Some(&[("a", "b\nc"), ("d", "e")])),
        ("a=b\n# comment 1", Some(&[("a", "b")])),
        ("# comment 1\n# comment 2", Some(&[])),
        ("uglyKey[%$=\"S3cr3t_P4ssw#rD\" #\na=b", Some(&[("uglyKey[%$", "S3cr3t_P4ssw#rD"), ("a", "b")])),
        ("\u{feff}a=b", Some(&[("a", "b")])),
        ("\u{feff}a=b\nc=d", Some(&[("a", "b"), ("c", "d")])),
    ];
    for (input, want) in table {
        let got = parse(input, "t", &no_env);
        match want {
            Some(w) => assert_eq!(got.ok(), Some(pairs(w)), "input {input:?}"),
            None => assert!(got.is_err(), "input {input:?} should be refused: {got:?}"),
        }
    }
}

/// python-dotenv's `test_dotenv_values_empty_value_with_inline_comment` table.
#[test]
fn python_dotenv_inline_comment_cases() {
    #[rustfmt::skip]
    let table: &[(&str, &[(&str, &str)])] = &[
        ("KEY= # comment", &[("KEY", "")]),
        ("KEY=  # comment", &[("KEY", "")]),
        ("KEY=val # comment", &[("KEY", "val")]),
        ("KEY=a#b", &[("KEY", "a#b")]),
        ("KEY=#novalue", &[("KEY", "#novalue")]),
        ("KEY=# # comment", &[("KEY", "#")]),
        ("KEY=\t# comment", &[("KEY", "")]),
        ("KEY= # comment\nOTHER=val", &[("KEY", ""), ("OTHER", "val")]),
    ];
    for (input, want) in table {
        assert_eq!(
            parse(input, "t", &no_env).ok(),
            Some(pairs(want)),
            "{input:?}"
        );
    }
}

/// The values a file gives, the later binding of a key winning (python-dotenv's dict).
fn values(text: &str, env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(text, "t", &|k| env.get(k).cloned())
        .unwrap_or_else(|e| panic!("{text:?}: {}", e.message))
        .into_iter()
        .collect()
}

/// python-dotenv's `test_dotenv_values_string_io` table (interpolation on), and
/// `test_parse_variables`'s forms. One row differs on purpose: single quotes do not expand
/// (docker compose and the shell agree; python-dotenv expands them).
#[test]
fn python_dotenv_interpolation_cases() {
    #[rustfmt::skip]
    let table: &[(Pairs, &str, Pairs)] = &[
        (&[("b", "c")], "a=$b", &[("a", "$b")]),
        (&[("b", "c")], "a=${b}", &[("a", "c")]),
        (&[("b", "c")], "a=${b:-d}", &[("a", "c")]),
        (&[], "b=c\na=${b}", &[("a", "c"), ("b", "c")]),
        (&[], "a=${b}", &[("a", "")]),
        (&[], "a=${b:-d}", &[("a", "d")]),
        (&[("b", "c")], "a=\"${b}\"", &[("a", "c")]),
        // python-dotenv gives "c": we differ on purpose.
        (&[("b", "c")], "a='${b}'", &[("a", "${b}")]),
        (&[("b", "c")], "a=x${b}y", &[("a", "xcy")]),
        (&[("a", "b")], "a=${a}", &[("a", "b")]),
        (&[], "a=${a}", &[("a", "")]),
        (&[("a", "b")], "a=${a:-c}", &[("a", "b")]),
        (&[], "a=${a:-c}", &[("a", "c")]),
        (&[("b", "c")], "a=${b}${b}", &[("a", "cc")]),
        (&[("b", "c")], "b=d\na=${b}", &[("a", "d"), ("b", "d")]),
        (&[], "a=b\na=c\nd=${a}", &[("a", "c"), ("d", "c")]),
        (&[], "a=b\nc=${a}\nd=e\nc=${d}", &[("a", "b"), ("c", "e"), ("d", "e")]),
        (&[], "x=${a}${b}", &[("x", "")]),
        (&[("b", "B"), ("d", "D")], "x=a${b}c${d}e", &[("x", "aBcDe")]),
        // POSIX and compose: `:-` also replaces an empty value (python-dotenv: only unset).
        (&[("b", "")], "a=${b:-d}", &[("a", "d")]),
        (&[], "a=\"\\${b}\"", &[("a", "${b}")]),
    ];
    for (env, text, want) in table {
        let want: BTreeMap<String, String> = pairs(want).into_iter().collect();
        assert_eq!(values(text, env), want, "{text:?} with {env:?}");
    }
}

/// What docker compose reads and python-dotenv's tables do not show.
#[test]
fn compose_forms() {
    let v = values(
        "export\tTABBED=1\nmy-key.x=2\r\nCR=3\rML=\"one\ntwo\"\nSQ='a\nb'\nBARE\n",
        &[("BARE", "from-env")],
    );
    assert_eq!(v["TABBED"], "1");
    assert_eq!(v["my-key.x"], "2");
    assert_eq!(v["CR"], "3");
    assert_eq!(v["ML"], "one\ntwo");
    assert_eq!(v["SQ"], "a\nb");
    assert_eq!(v["BARE"], "from-env");
    assert_eq!(values("\u{feff}export A=1", &[])["A"], "1");
}

#[test]
fn errors_name_the_line_and_column() {
    let msg = |t: &str| parse(t, "f.env", &no_env).unwrap_err().message;
    assert_eq!(
        msg("A=1\nnot a pair\n"),
        "f.env:2:5: expected = after \"not\""
    );
    assert_eq!(msg("A=1\nB='x"), "f.env:2:3: unterminated single quote");
    assert_eq!(msg("A=\"x\ny"), "f.env:1:3: unterminated double quote");
    assert_eq!(
        msg("A='x' y"),
        "f.env:1:7: unexpected text after the closing quote"
    );
    assert_eq!(msg("=x"), "f.env:1:1: expected a variable name before =");
    assert_eq!(msg("A=${}"), "f.env:1:3: expected a variable name after ${");
    assert_eq!(msg("A=x ${B"), "f.env:1:5: expected ${B} or ${B:-default}");
    assert_eq!(
        msg("A=${B:?no}"),
        "f.env:1:3: expected ${B} or ${B:-default}"
    );
    assert_eq!(msg("A=${B:-x"), "f.env:1:3: unterminated ${B:-");
    assert_eq!(
        msg("A=${B:-${C}}"),
        "f.env:1:3: a ${...} inside a default is not supported"
    );
    assert_eq!(
        msg("A=\r\nB=\"x\\0\ny\0\""),
        "f.env:2:3: the value contains a NUL character"
    );
    // Lines are counted across a value that spans lines, and a lone CR ends one.
    assert_eq!(msg("A=\"1\n2\"\rB C"), "f.env:3:3: expected = after \"B\"");
}
