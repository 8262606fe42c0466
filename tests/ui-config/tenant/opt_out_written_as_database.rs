fn main() {
    let _ = d1kit::sql!(cross_tenant, "SELECT id FROM notes");
}
