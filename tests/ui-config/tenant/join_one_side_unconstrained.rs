fn main() {
    // `tags` is joined by note only: its own `user_id` is never pinned.
    let _ = d1kit::sql!(
        "SELECT n.id, t.tag
         FROM notes n
         JOIN tags t ON t.note_id = n.id
         WHERE n.user_id = ?1",
        "u"
    );
}
