"""Check-in kiosks: scanners, badge tokens, attendees, check-in, sync, pages."""
