"""Telemetry parsers on verbatim samples (tests/devices/samples/SOURCES.md): getprop, thermal zones, dumpsys
thermalservice, nvpmodel, jetson_clocks, tegrastats and /proc/cpuinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.devices.parsers import (
    CpuCore,
    NvpModel,
    ParseError,
    PowerRail,
    parse_cpuinfo,
    parse_dumpsys_thermal,
    parse_getprop,
    parse_getprop_value,
    parse_jetson_clocks,
    parse_nvpmodel,
    parse_tegrastats,
    parse_thermal_zones,
)
from edgekit.devices.parsers.telemetry import THERMAL_ZONES_COMMAND

SAMPLES = Path(__file__).parent / "samples"
#: the same tuple as edgekit.bench.environment.INTERESTING_FLAGS (parsers may not import edgekit.bench)
WANTED = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
          "neon", "asimd", "asimddp", "i8mm", "sve")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def tegrastats(label: str) -> str:
    lines = sample("tegrastats_lines.txt").splitlines()
    return lines[lines.index(next(line for line in lines if line.startswith(f"# {label}"))) + 1]


# --- getprop -------------------------------------------------------------------------------------------------------

def test_getprop_listing_skips_non_property_lines():
    props = parse_getprop(sample("getprop_moto_g75_excerpt.txt"))
    assert len(props) == 47
    assert props["ro.soc.model"] == "SM6475" and props["ro.soc.manufacturer"] == "QTI"
    assert props["gsm.version.baseband"] == "M6475_DE311_17.195.01.43R PAROS_PVT_EMEADSDS_CUST"
    assert not any(key.startswith("(bootloader)") for key in props)


def test_getprop_empty_and_multiline_values():
    props = parse_getprop("[ro.soc.model]: []\r\n[persist.sys.motd]: [line one\nline two]\n[ro.board.platform]: "
                          "[exynos2400]\n")
    assert props == {"ro.soc.model": "", "persist.sys.motd": "line one\nline two", "ro.board.platform": "exynos2400"}


def test_getprop_single_key():
    assert parse_getprop_value("Tensor G3\n") == "Tensor G3"
    assert parse_getprop_value("\n") is None


@pytest.mark.parametrize("text", ["", "adb: device offline\n", "[ro.x]: [never closed"])
def test_getprop_without_properties_raises(text):
    with pytest.raises(ParseError, match="getprop printed no"):
        parse_getprop(text)


# --- thermal zones ---------------------------------------------------------------------------------------------------

def test_thermal_zones_millidegrees_skip_powered_down_and_empty_zones():
    temps = parse_thermal_zones(sample("thermal_zones_orin_nano_constructed.txt"))
    assert temps == {"cpu-thermal": 46.0, "gpu-thermal": 46.7, "soc0-thermal": 46.187, "soc1-thermal": 46.281,
                     "soc2-thermal": 44.843, "tj-thermal": 47.0}


def test_thermal_zones_units_duplicates_and_garbage():
    text = "battery\t35\nskin\t-5000\nskin\t36000\nbad\tcat: read error: Invalid argument\nodd\t352\nhot\t999999\n"
    assert parse_thermal_zones(text) == {"battery": 35.0, "skin": -5.0, "skin#2": 36.0}


def test_thermal_zones_command_prints_the_documented_format():
    assert "printf '%s\\t%s\\n'" in THERMAL_ZONES_COMMAND and "thermal_zone*" in THERMAL_ZONES_COMMAND


@pytest.mark.parametrize("text", ["", "cpu\t\n", "cpu\tgarbage\n"])
def test_thermal_zones_nothing_readable_raises(text):
    with pytest.raises(ParseError, match="no zone printed a readable temperature"):
        parse_thermal_zones(text)


# --- dumpsys thermalservice -------------------------------------------------------------------------------------------

def test_dumpsys_uses_hal_temperatures_and_status_zero_is_cool():
    status = parse_dumpsys_thermal(sample("dumpsys_thermal_samsung.txt"))
    assert status.status == 0 and status.status_name == "NONE" and not status.throttling
    assert status.source == "hal"
    assert status.temperatures == {"AP": 34.6, "BAT": 25.2, "PA": 30.0, "SKIN": 28.2, "SUBBAT": 0.0, "USB": 25.8}


def test_dumpsys_drops_battery_current_limit_sensors():
    status = parse_dumpsys_thermal(sample("dumpsys_thermal_qualcomm_bcl.txt"))
    assert "vbat" not in status.temperatures and "socd" not in status.temperatures  # volts and percent
    assert status.temperatures["nsp1"] == 34.7 and len(status.temperatures) == 12


def test_dumpsys_moderate_status_is_throttling():
    status = parse_dumpsys_thermal(sample("dumpsys_thermal_throttled.txt"))
    assert (status.status, status.status_name, status.max_sensor_status, status.throttling) == (2, "MODERATE", 2, True)
    assert status.temperatures["skin"] == 44.637


def test_dumpsys_light_status_counts_as_throttling_and_fragment_reads():
    light = parse_dumpsys_thermal("Thermal Status: 1\n")
    assert light.throttling and light.temperatures == {}
    fragment = parse_dumpsys_thermal(sample("dumpsys_thermal_fragment.txt"))
    assert fragment.status is None and fragment.temperatures == {"CPU0": 62.500004, "GPU": 61.000004}
    assert not fragment.throttling


def test_dumpsys_skips_nan_and_uses_cached_when_hal_is_empty():
    text = ("Thermal Status: 0\nCached temperatures:\n\tTemperature{mValue=NaN, mType=3, mName=skin, mStatus=0}\n"
            "\tTemperature{mValue=30.8, mType=3, mName=test temperature sensor, mStatus=0}\nHAL Ready: true\n"
            "Current temperatures from HAL:\n")
    status = parse_dumpsys_thermal(text)
    assert status.source == "cached" and status.temperatures == {"test temperature sensor": 30.8}


@pytest.mark.parametrize("text", ["", "Can't find service: thermalservice\n"])
def test_dumpsys_without_status_or_temperatures_raises(text):
    with pytest.raises(ParseError, match="neither 'Thermal Status:' nor a temperature"):
        parse_dumpsys_thermal(text)


# --- nvpmodel -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("nvpmodel_emulator_warn.txt", NvpModel("MAXN", 0)),
    ("nvpmodel_orin_nx_maxn_super.txt", NvpModel("MAXN_SUPER", 2)),
    ("nvpmodel_orin_nano_25w.txt", NvpModel("25W", 1)),
    ("nvpmodel_r39_one_line.txt", NvpModel("MAXN", 0)),
])
def test_nvpmodel(name, expected):
    mode = parse_nvpmodel(sample(name))
    assert mode == expected
    name_, mode_id = mode
    assert (name_, mode_id) == tuple(expected)


@pytest.mark.parametrize("text, needle", [("", "no 'NV Power Mode:' line"), ("NV Power Mode: MAXN\n", "no mode ID"),
                                          ("NV Power Mode: MAXN\nNVPM ERROR\nabc\n", "no mode ID")])
def test_nvpmodel_incomplete_raises(text, needle):
    with pytest.raises(ParseError, match=needle):
        parse_nvpmodel(text)


# --- jetson_clocks --------------------------------------------------------------------------------------------------

def test_jetson_clocks_nano_not_maxed():
    clocks = parse_jetson_clocks(sample("jetson_clocks_nano.txt"))
    assert (clocks.soc, clocks.machine, clocks.power_mode, clocks.fan) == ("tegra210", "jetson-nano", "MAXN",
                                                                          "Fan: speed=0")
    (cpu,) = clocks.cpus
    assert (cpu.online, cpu.governor, cpu.min_khz, cpu.max_khz, cpu.current_khz) == (True, "schedutil", 102000,
                                                                                    1428000, 1428000)
    assert (clocks.gpu.min_hz, clocks.gpu.max_hz, clocks.gpu.current_hz) == (76800000, 921600000, 153600000)
    assert clocks.emc.current_hz == 1600000000 and clocks.emc_freq_override == 0
    assert cpu.maxed and not clocks.maxed  # the GPU runs at 153.6 of 921.6 MHz


def test_jetson_clocks_offline_cpus_are_ignored_for_maxed():
    clocks = parse_jetson_clocks(sample("jetson_clocks_tx2_emulator.txt"))
    assert [cpu.online for cpu in clocks.cpus] == [True, False, False, True, True, True]
    assert not clocks.maxed  # cpu3 and the GPU are below their maximum


def test_jetson_clocks_r36_without_online_fields():
    clocks = parse_jetson_clocks(sample("jetson_clocks_orin_nano_super_r36.txt"))
    assert len(clocks.cpus) == 6 and all(cpu.online for cpu in clocks.cpus)
    assert clocks.active_gpu_tpcs == 4 and clocks.power_mode == "25W" and not clocks.maxed
    assert clocks.fan.startswith("FAN Dynamic Speed Control=nvfancontrol")


def test_jetson_clocks_r39_after_jetson_clocks_is_maxed():
    clocks = parse_jetson_clocks(sample("jetson_clocks_agx_orin_r39_maxed.txt"))
    assert len(clocks.cpus) == 12 and clocks.maxed
    assert clocks.engines["DLA0_CORE"].max_hz == 1600000000 and set(clocks.engines) >= {"PVA0_VPS0", "PVA0_AXI"}


def test_jetson_clocks_without_gpu_line_cannot_be_maxed():
    text = "Online CPUs: 0-1\ncpu0: Online=1 Governor=performance MinFreq=1 MaxFreq=2 CurrentFreq=2\n"
    assert not parse_jetson_clocks(text).maxed


@pytest.mark.parametrize("text, needle", [
    ("", "no cpu or GPU line"),
    ("Error: Run this script(/usr/bin/jetson_clocks) as a root user\n", "as a root user"),
    ("GPU MinFreq=1 MaxFreq=x CurrentFreq=1\n", "unreadable clock line"),
])
def test_jetson_clocks_errors(text, needle):
    with pytest.raises(ParseError, match=None) as info:
        parse_jetson_clocks(text)
    assert needle in str(info.value)


# --- tegrastats -----------------------------------------------------------------------------------------------------

def test_tegrastats_old_xavier():
    stats = parse_tegrastats(tegrastats("xavier_old"))
    assert (stats.ram_used_mb, stats.ram_total_mb, stats.swap_used_mb, stats.swap_total_mb) == (4722, 7844, 149, 1024)
    assert stats.cpus[0] == CpuCore(True, 55.0, 2035.0) and len(stats.cpus) == 6
    assert (stats.gpu_util_pct, stats.gpu_freqs_mhz, stats.emc_util_pct, stats.emc_freq_mhz) == (37.0, (1300.0,), 2.0,
                                                                                              1866.0)
    assert stats.temperatures["thermal"] == 46.4 and stats.temperatures["BCPU"] == -45.0
    assert stats.power["VDD_IN"] == PowerRail(14025.0, 14416.0) and "NVENC" not in stats.power


def test_tegrastats_nano_pom_rails_and_iram_is_not_a_rail():
    stats = parse_tegrastats(tegrastats("nano"))
    assert stats.power == {"POM_5V_IN": PowerRail(4520.0, 4680.0), "POM_5V_GPU": PowerRail(0.0, 0.0),
                           "POM_5V_CPU": PowerRail(1078.0, 1205.0)}
    assert stats.gpu_freqs_mhz == (76.0,) and stats.temperatures["CPU"] == 60.5


def test_tegrastats_xavier_rails_named_without_vdd():
    stats = parse_tegrastats(tegrastats("xavier_rails_without_vdd"))
    assert stats.power["GPU"] == PowerRail(1155.0, 1155.0) and stats.power["SYS5V"] == PowerRail(2692.0, 2692.0)


def test_tegrastats_orin_jetpack6_offline_cores_and_mw_rails():
    stats = parse_tegrastats(tegrastats("orin_jp6"))
    assert stats.timestamp == "09-01-2025 10:55:25"
    assert [cpu.online for cpu in stats.cpus] == [True] * 8 + [False] * 4
    assert stats.gpu_util_pct == 0.0 and stats.gpu_freqs_mhz == ()
    assert stats.temperatures == {"cpu": 43.343, "soc2": 39.812, "soc0": 40.312, "tj": 43.343, "soc1": 38.843}
    assert stats.power["VDD_GPU_SOC"] == PowerRail(1995.0, 1995.0, None)


def test_tegrastats_three_value_rails_and_current_slash_max_temperatures():
    stats = parse_tegrastats(tegrastats("orin_nano_super_r36_three_values"))
    assert stats.power["VDD_IN"] == PowerRail(3462.0, 3522.0, 3582.0)
    assert stats.temperatures["cpu"] == 45.375 and stats.temperature_max["cpu"] == 45.812
    assert stats.gpu_freqs_mhz == (305.0,) and stats.emc_freq_mhz == 665.0


def test_tegrastats_powered_down_sensors_are_left_out():
    stats = parse_tegrastats(tegrastats("orin_emulator_powered_down_sensors"))
    assert not {"CV0", "CV1", "CV2", "GPU"} & set(stats.temperatures)
    assert stats.temperatures["tj"] == 41.656


def test_tegrastats_thor_r39():
    loaded = parse_tegrastats(tegrastats("thor_r39_loaded"))
    assert loaded.gpu_util_pct == 87.0 and loaded.gpu_freqs_mhz == (1574.0, 1574.0, 1574.0)
    assert loaded.power["VIN"] == PowerRail(124486.0, 36487.0, 124486.0) and not loaded.cpus[2].online
    idle = parse_tegrastats(tegrastats("thor_r39_idle"))
    assert idle.gpu_util_pct is None and idle.emc_util_pct is None and idle.emc_freq_mhz == 4266.0
    assert idle.cpus[1] == CpuCore(True, 5.0, 2601.0)  # one frequency after the list applies to every core


@pytest.mark.parametrize("line, needle", [
    ("", "has no RAM, CPU, temperature or power field"),
    ("tegrastats: command not found", "has no RAM"),
    ("RAM 900/100MB (lfb 1x4MB)", "more in use than there is"),
    ("CPU [12%@100,what]", "CPU list holds 'what'"),
    ("CPU [120%@100]", "over 100%"),
])
def test_tegrastats_bad_lines_raise(line, needle):
    with pytest.raises(ParseError) as info:
        parse_tegrastats(line)
    assert needle in str(info.value)


# --- cpuinfo --------------------------------------------------------------------------------------------------------

def test_cpuinfo_x86():
    info = parse_cpuinfo(sample("cpuinfo_x86_this_machine.txt"), WANTED)
    assert info.model == "Intel(R) Xeon(R) Processor"
    assert info.flags == ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                          "amx_int8"]


def test_cpuinfo_arm_big_little_without_hardware_line():
    model, flags = parse_cpuinfo(sample("cpuinfo_sm8550_lkml.txt"), WANTED)
    assert model == "Cortex-A510/Cortex-A715/Cortex-A710/Cortex-X3"
    assert flags == ["asimd", "asimddp", "i8mm"]


def test_cpuinfo_raspberry_pi_board_and_core():
    assert parse_cpuinfo(sample("cpuinfo_rpi3_aarch64.txt"), WANTED) == (
        "Raspberry Pi 3 Model B Rev 1.2 (Cortex-A53)", ["asimd"])
    assert parse_cpuinfo(sample("cpuinfo_rpi_zero_armv6.txt"), WANTED).model == "BCM2835 (ARM1176)"


def test_cpuinfo_without_wanted_returns_every_flag_sorted_and_old_processor_field():
    text = "Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\nFeatures\t: fp asimd crc32\n" \
           "CPU implementer\t: 0x51\nCPU part\t: 0x801\nHardware\t: Qualcomm Technologies, Inc SDM630\n"
    info = parse_cpuinfo(text)
    assert info.flags == ["asimd", "crc32", "fp"]
    assert info.model == "Qualcomm Technologies, Inc SDM630 (Qualcomm part 0x801)"


@pytest.mark.parametrize("text", ["", "nothing here\n", "processor\t: 0\n"])
def test_cpuinfo_without_model_or_flags_raises(text):
    with pytest.raises(ParseError, match="cpuinfo has no model name"):
        parse_cpuinfo(text, WANTED)


def test_wanted_matches_the_environment_records_flags():
    from edgekit.bench.environment import INTERESTING_FLAGS

    assert WANTED == INTERESTING_FLAGS
