import Foundation
import Testing

@testable import Gateway

/// The embedded page stands alone: nothing in it points outside the gateway (the browser
/// test, Tests/System/test_dashboard.py, checks what it really fetches).
struct DashboardPageTests {
    @Test func pageReferencesNothingOutsideTheGateway() {
        let html = DashboardPage.html.lowercased()
        for external in [
            "http://", "https://", "//cdn", "@import", "url(", "<script src",
            "<link rel=\"stylesheet\"",
        ] {
            #expect(!html.contains(external), "the page contains \(external)")
        }
        // Its only sources: the inline script and the dashboard API.
        #expect(html.contains("/dashboard/api/activity"))
        #expect(html.contains("/dashboard/api/cluster"))
        #expect(html.hasPrefix("<!doctype html>"))
    }
}
