// Placeholder so the target exists until its code lands.
enum _PlacementPlaceholder {}
