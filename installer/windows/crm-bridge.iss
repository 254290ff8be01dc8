; Inno Setup script: a per-user installer for CRM Bridge on Windows (no administrator rights).
;
;   iscc /DAppVersion=0.1.0 /DSourceDir=dist\crm-bridge installer\windows\crm-bridge.iss
;
; SourceDir is the one-folder build of installer/crm-bridge.spec (installer/build-frozen.sh).
; Code signing: pass /DSignTool=crmsign and /Scrmsign="signtool.exe sign /fd sha256 ... $f"
; (the release workflow does when its signing secrets are set); without it nothing is signed.
;
; What it writes: the program under %LOCALAPPDATA%\Programs\CRM Bridge, a Start-menu entry
; for the user, the uninstall entry under HKCU\Software\Microsoft\Windows\CurrentVersion\
; Uninstall, and - only if chosen - the app's own start-at-login value under HKCU\...\Run
; (written by `crm-bridge autostart on`, so the app's Settings show and change the same one).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\crm-bridge"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
; The AppId ties upgrades and the uninstall entry together: never change it.
AppId={{6C0F3B7E-2B1D-4E4A-9C55-8E0D3A7F1B42}
AppName=CRM Bridge
AppVersion={#AppVersion}
AppVerName=CRM Bridge {#AppVersion}
AppPublisher=CRM Bridge contributors
VersionInfoVersion={#AppVersion}
PrivilegesRequired=lowest
DefaultDirName={localappdata}\Programs\CRM Bridge
DisableDirPage=auto
DefaultGroupName=CRM Bridge
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
UsePreviousTasks=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=crm-bridge-{#AppVersion}-windows-setup
SetupIconFile=..\..\resources\icons\crm-bridge.ico
UninstallDisplayIcon={app}\crm-bridge-tray.exe
UninstallDisplayName=CRM Bridge
LicenseFile=..\..\LICENSE
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
; A running tray is closed through its own single-instance channel (PrepareToInstall),
; not by the Restart Manager, so its journal is closed cleanly.
CloseApplications=no
RestartApplications=no
#ifdef SignTool
SignTool={#SignTool}
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "autostart"; Description: "Start CRM Bridge when I sign in to Windows"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole program folder: nothing of the old build lingers.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\CRM Bridge"; Filename: "{app}\crm-bridge-tray.exe"; Comment: "Track mail in your CRM and send CRM e-mail from your own mailbox"

[Run]
Filename: "{app}\crm-bridge.exe"; Parameters: "autostart on"; Flags: runhidden waituntilterminated; Tasks: autostart; StatusMsg: "Turning on start at login..."
Filename: "{app}\crm-bridge-tray.exe"; Description: "Start CRM Bridge now"; Flags: nowait postinstall skipifsilent

[Code]
const
  QuitFailed = 'CRM Bridge is still running and did not quit when asked. Quit it from its tray menu, then run Setup again.';

{ Asks a running tray to quit through its single-instance channel (a named pipe per user);
  `crm-bridge --quit` waits until it has gone. }
function QuitRunningCopy(const Exe: String): Boolean;
var
  ResultCode: Integer;
begin
  Result := True;
  if FileExists(Exe) then
  begin
    if Exec(Exe, '--quit', '', SW_HIDE, ewWaitUntilTerminated, ResultCode) then
      Result := (ResultCode = 0);
  end;
end;

function PrepareToInstall(var NeedsRestart: Boolean): String;
begin
  Result := '';
  if not QuitRunningCopy(ExpandConstant('{app}\crm-bridge.exe')) then
    Result := QuitFailed;
end;

{ The profiles `crm-bridge purge` would remove, as it lists them. }
function ListProfiles(const Exe: String): String;
var
  ResultCode: Integer;
  Listing: AnsiString;
  ListFile: String;
begin
  Result := '';
  ListFile := ExpandConstant('{tmp}\crm-bridge-purge.txt');
  if Exec(ExpandConstant('{cmd}'), '/C ""' + Exe + '" purge > "' + ListFile + '""', '', SW_HIDE,
          ewWaitUntilTerminated, ResultCode) and (ResultCode = 0) then
    if LoadStringFromFile(ListFile, Listing) then
      Result := String(Listing);
end;

{ The uninstaller stops before removing anything if the tray does not quit. }
function InitializeUninstall(): Boolean;
begin
  Result := QuitRunningCopy(ExpandConstant('{app}\crm-bridge.exe'));
  if not Result then
    MsgBox(QuitFailed, mbError, MB_OK);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Exe: String;
  Listing: String;
  ResultCode: Integer;
begin
  if CurUninstallStep <> usUninstall then
    Exit;
  Exe := ExpandConstant('{app}\crm-bridge.exe');
  if not FileExists(Exe) then
    Exit;
  { The Run value would point at a program that is gone. }
  Exec(Exe, 'autostart off', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  { Settings, the journal and saved passwords stay unless the user asks (never when silent). }
  if not UninstallSilent then
  begin
    Listing := ListProfiles(Exe);
    if (Listing <> '') and (MsgBox('Also remove your CRM Bridge settings, journal and saved passwords?' + #13#10#13#10 +
        Listing, mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES) then
      Exec(Exe, 'purge --yes', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  end;
end;
