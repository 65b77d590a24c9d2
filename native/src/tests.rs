use super::*;

#[test]
fn cpu_is_ready_and_matches_the_reference() {
    assert_eq!(probe(BackendKind::Cpu).status, Probe::Ready);
    let mut ctx = Context::new(BackendKind::Cpu).expect("the CPU backend always opens");
    let summary = conformance::check(&mut ctx).expect("CPU output equals dsp::fir_q15");
    let (_, _, firmware) = conformance::reference(&dsp::testvec::FIRMWARE);
    assert_eq!(summary.firmware_digest, dsp::digest(&firmware));
}

#[test]
fn shape_errors_are_reported_before_any_work() {
    let mut ctx = Context::new(BackendKind::Cpu).expect("cpu");
    let mut out = [0i16; 4];
    let err = ctx.filter(&[1; 3], 3, &[0; 4], &mut out).unwrap_err();
    assert!(matches!(
        err,
        Error::Shape(FirError::PartialFrame {
            len: 4,
            frame_len: 3
        })
    ));
    assert!(matches!(
        ctx.time_filter(&[], 4, &[0; 4], 1),
        Err(Error::Shape(FirError::TapCount(0)))
    ));
}

#[test]
fn backend_names_round_trip() {
    for b in BackendKind::ALL {
        assert_eq!(BackendKind::from_name(b.name()), Some(b));
    }
    assert_eq!(BackendKind::from_name("opencl"), None);
}

#[cfg(not(target_os = "macos"))]
#[test]
fn metal_is_not_built_off_macos() {
    assert_eq!(probe(BackendKind::Metal).status, Probe::NotBuilt);
    assert!(matches!(
        Context::new(BackendKind::Metal),
        Err(Error::Unavailable(ProbeReport {
            status: Probe::NotBuilt,
            ..
        }))
    ));
}

#[cfg(target_os = "macos")]
#[test]
fn metal_probe_and_conformance() {
    let report = probe(BackendKind::Metal);
    assert_eq!(probe(BackendKind::Cuda).status, Probe::NotBuilt);
    match Context::new(BackendKind::Metal) {
        Ok(mut ctx) => {
            assert_eq!(report.status, Probe::Ready);
            conformance::check(&mut ctx).expect("Metal output equals the CPU's");
        }
        Err(e) => eprintln!("skipped: metal conformance: {e}"),
    }
}
