fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT n.id, u.mail FROM notes n JOIN users u ON u.id = n.owner_id"
    );
}
