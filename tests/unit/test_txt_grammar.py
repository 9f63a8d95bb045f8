"""The TXT grammar on its own: continuation lines, labels inside free text, both DM grammars."""

from __future__ import annotations

from tiktok_portability_source.archive.txt import parse_direct_messages, parse_records

POST_LABELS = frozenset({"date", "link", "likes", "whocanview", "sound", "title"})


def test_photo_post_urls_on_their_own_lines_stay_in_one_record():
    text = ("Date: 2025-01-02 20:00:00 UTC\nLink: https://cdn.example/a-0.jpeg?x=1\nhttps://cdn.example/a-1.jpeg?x=1\n"
            "https://cdn.example/a-2.jpeg?x=1\nLike(s): 12\nWho can view: Everyone\nSound: original sound\n\n"
            "Date: 2025-01-01 20:00:00 UTC\nLink: https://cdn.example/b\nLike(s): 3\n")
    parsed = parse_records(text, POST_LABELS)
    assert len(parsed.records) == 2
    first = parsed.records[0]
    assert first["link"].split("\n") == [f"https://cdn.example/a-{k}.jpeg?x=1" for k in range(3)]
    assert (first["likes"], first["whocanview"], first["sound"]) == ("12", "Everyone", "original sound")
    assert "https" not in first and parsed.unplaced_lines == 0


def test_a_comment_keeps_every_line_even_one_shaped_like_a_label():
    text = "Date: 2025-01-02 20:00:00\nComment: first line\nsecond line: still the comment\nthird\n"
    parsed = parse_records(text, frozenset({"date", "comment"}))
    assert parsed.records == [{"date": "2025-01-02 20:00:00",
                               "comment": "first line\nsecond line: still the comment\nthird"}]


def test_an_unknown_label_outside_free_text_is_its_own_field_not_glued_to_the_last():
    parsed = parse_records("Date: 2025-01-02 20:00:00\nLink: https://x/1\nBrand New Label: yes\n",
                           frozenset({"date", "link"}))
    assert parsed.records == [{"date": "2025-01-02 20:00:00", "link": "https://x/1", "brandnewlabel": "yes"}]


def test_headers_still_open_sub_sections():
    text = ("Send Gifts History:\nYou have no data in this section\n\nBuy Gifts History:\n"
            "Date: 2025-01-01 10:00:00\nPrice: 0.99\n")
    parsed = parse_records(text, frozenset({"date", "price"}))
    assert parsed.records == [{"date": "2025-01-01 10:00:00", "price": "0.99"}]
    assert parsed.headers == ["Buy Gifts History"]


def test_current_dm_grammar_with_double_colon_utc_and_multiline_messages():
    text = (">>> Chat History with friend_a::\n\n2025-12-20 23:09:06 UTC user_a: see you at 5\n"
            "bring the cake: ok?\n2025-12-20 23:10:00 UTC friend_a: [https://p16.example/abc.jpeg]\n\n"
            ">>> Chat History with Group_Chat_7000000000000000006::\n"
            "2025-12-21 08:00:00 UTC friend_b: https://www.tiktokv.com/share/video/7000000000000000001/\n")
    parsed = parse_direct_messages(text)
    assert parsed.unplaced_lines == 0
    assert list(parsed.threads) == ["friend_a", "Group_Chat_7000000000000000006"]
    first, second = parsed.threads["friend_a"]
    assert first == {"date": "2025-12-20 23:09:06 UTC", "from": "user_a", "content": "see you at 5\nbring the cake: ok?"}
    assert second["content"] == "[https://p16.example/abc.jpeg]" and second["from"] == "friend_a"


def test_old_bracketed_dm_grammar_still_reads():
    parsed = parse_direct_messages(">>> Chat History with friend_a:\n[2022-01-01 10:00:00] friend_a: hi: there\n")
    assert parsed.threads == {"friend_a": [{"date": "2022-01-01 10:00:00", "from": "friend_a", "content": "hi: there"}]}


def test_dm_lines_in_an_unknown_grammar_are_counted_not_dropped_unseen():
    parsed = parse_direct_messages('{"from": "a", "text": "hi"}\n{"from": "b", "text": "yo"}\n')
    assert parsed.threads == {} and parsed.unplaced_lines == 2
