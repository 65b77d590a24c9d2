use super::*;

#[test]
fn cpu_is_ready_and_matches_the_reference() {
    assert_eq!(probe(Backend::Cpu).status, Probe::Ready);
    let mut ctx = Context::new(Backend::Cpu).expect("the CPU backend always opens");
    let summary = conformance::check(&mut ctx).expect("CPU output equals dsp::fir_q15");
    let (_, _, firmware) = conformance::reference(&dsp::testvec::FIRMWARE);
    assert_eq!(summary.firmware_digest, dsp::digest(&firmware));
}

#[test]
fn shape_errors_are_reported_before_any_work() {
    let mut ctx = Context::new(Backend::Cpu).expect("cpu");
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
    for b in Backend::ALL {
        assert_eq!(Backend::from_name(b.name()), Some(b));
    }
    assert_eq!(Backend::from_name("opencl"), None);
}

/// Whether the CUDA driver library can be opened, found without cudarc.
#[cfg(not(target_os = "macos"))]
fn driver_library_opens() -> bool {
    // SAFETY: loading the vendor library runs only its own initialisers.
    unsafe { libloading::Library::new(cuda::DRIVER_LIBRARY) }.is_ok()
}

/// The CUDA probe answers from this machine's real state: without an
/// embedded fatbin it is `NotBuilt`; without a driver `NoDriver`; with both
/// any device status, and when `Ready` the GPU output must equal the CPU's.
#[cfg(not(target_os = "macos"))]
#[test]
fn cuda_probe_reflects_this_machine() {
    let report = probe(Backend::Cuda);
    let opened = Context::new(Backend::Cuda);
    if !cuda_fatbin_embedded() {
        assert_eq!(report.status, Probe::NotBuilt, "{report}");
    } else if !driver_library_opens() {
        assert_eq!(report.status, Probe::NoDriver, "{report}");
        assert!(report.detail.contains("libcuda.so.1"), "{report}");
    } else {
        assert_ne!(report.status, Probe::NotBuilt, "{report}");
        assert_ne!(report.status, Probe::NoDriver, "{report}");
    }
    match opened {
        Ok(mut ctx) => {
            assert_eq!(report.status, Probe::Ready);
            let summary = conformance::check(&mut ctx).expect("CUDA output equals the CPU's");
            eprintln!(
                "cuda: {} bit-exact on {}",
                summary.samples,
                ctx.device_name()
            );
        }
        Err(Error::Unavailable(r)) => {
            assert_eq!(r, report);
            eprintln!("skipped: cuda conformance: {r}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[cfg(not(target_os = "macos"))]
#[test]
fn cuda_return_codes_map_to_statuses() {
    // "No usable device": CUDA_ERROR_INSUFFICIENT_DRIVER, NO_DEVICE,
    // SYSTEM_DRIVER_MISMATCH, COMPAT_NOT_SUPPORTED_ON_DEVICE.
    for code in [35, 100, 803, 804] {
        assert_eq!(cuda::status_for_code(code), Probe::NoDevice, "{code}");
    }
    assert_eq!(cuda::status_for_code(222), Probe::DriverTooOld);
    for code in [200, 209, 218, 221] {
        assert_eq!(cuda::status_for_code(code), Probe::NoKernelImage, "{code}");
    }
}

#[cfg(not(target_os = "macos"))]
#[test]
fn metal_is_not_built_off_macos() {
    assert_eq!(probe(Backend::Metal).status, Probe::NotBuilt);
    assert!(matches!(
        Context::new(Backend::Metal),
        Err(Error::Unavailable(ProbeReport {
            status: Probe::NotBuilt,
            ..
        }))
    ));
}

#[cfg(target_os = "macos")]
#[test]
fn metal_probe_and_conformance() {
    let report = probe(Backend::Metal);
    assert_eq!(probe(Backend::Cuda).status, Probe::NotBuilt);
    match Context::new(Backend::Metal) {
        Ok(mut ctx) => {
            assert_eq!(report.status, Probe::Ready);
            conformance::check(&mut ctx).expect("Metal output equals the CPU's");
        }
        Err(e) => eprintln!("skipped: metal conformance: {e}"),
    }
}
