//! Locations of stores and customers: validated coordinates and great-circle distance.
//!
//! Nearest-store search uses an R-tree over points on the unit sphere (in `pond-server`): the
//! straight-line (chord) order between such points equals the great-circle order, which raw
//! latitude/longitude in a planar index would get wrong.

use crate::ValidationError;

/// Mean Earth radius in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point on Earth (WGS-84 or GCJ-02 degrees, as the browser or WeCom gives them).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl LatLng {
    /// Latitude in [-90, 90], longitude in [-180, 180], both finite.
    pub fn new(lat: f64, lng: f64) -> Result<LatLng, ValidationError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(ValidationError::new(
                "latitude",
                "must be a number from -90 to 90",
                "须为 -90 到 90 之间的数字",
            ));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(ValidationError::new(
                "longitude",
                "must be a number from -180 to 180",
                "须为 -180 到 180 之间的数字",
            ));
        }
        Ok(LatLng { lat, lng })
    }

    /// The point on the unit sphere, for an R-tree whose chord order is great-circle order.
    pub fn unit_vector(self) -> [f64; 3] {
        let (lat, lng) = (self.lat.to_radians(), self.lng.to_radians());
        [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
    }

    /// Great-circle (haversine) distance in metres.
    pub fn distance_m(self, other: LatLng) -> f64 {
        let (a, b) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = b - a;
        let dlng = (other.lng - self.lng).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + a.cos() * b.cos() * (dlng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_city_pairs() {
        let shanghai = LatLng::new(31.2304, 121.4737).unwrap();
        let beijing = LatLng::new(39.9042, 116.4074).unwrap();
        let d = shanghai.distance_m(beijing) / 1000.0;
        assert!((d - 1067.0).abs() < 10.0, "{d}");
        assert_eq!(shanghai.distance_m(shanghai), 0.0);
        let chengdu = LatLng::new(30.5728, 104.0668).unwrap();
        let guangzhou = LatLng::new(23.1291, 113.2644).unwrap();
        assert!((chengdu.distance_m(guangzhou) / 1000.0 - 1_238.0).abs() < 15.0);
    }

    #[test]
    fn chord_order_is_distance_order() {
        let here = LatLng::new(31.2, 121.5).unwrap();
        let near = LatLng::new(31.3, 121.4).unwrap();
        let far = LatLng::new(22.5, 114.1).unwrap();
        let chord = |a: [f64; 3], b: [f64; 3]| (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f64>();
        assert!(chord(here.unit_vector(), near.unit_vector()) < chord(here.unit_vector(), far.unit_vector()));
    }

    #[test]
    fn out_of_range_coordinates_are_refused() {
        assert_eq!(LatLng::new(91.0, 0.0).unwrap_err().field, "latitude");
        assert_eq!(LatLng::new(0.0, -180.5).unwrap_err().field, "longitude");
        assert!(LatLng::new(f64::NAN, 0.0).is_err());
        assert!(LatLng::new(-90.0, 180.0).is_ok());
    }
}
