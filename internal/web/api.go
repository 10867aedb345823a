package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

type route struct {
	pattern string
	handler http.HandlerFunc
}

// apiTable is every API route; the OpenAPI test walks it too.
func (s *Server) apiTable() []route {
	return []route{
		{"GET /api/v1/openapi.json", s.openapi},
		{"POST /api/v1/auth/sms-code", jsonAPI(s, http.StatusAccepted, s.sendSMSCode)},
		{"POST /api/v1/auth/register", s.apiRegister},
		{"POST /api/v1/auth/login", s.apiLogin},
		{"POST /api/v1/auth/logout", s.requireLogin(s.apiLogout)},
		{"GET /api/v1/me", s.requireLogin(s.apiMe)},
		{"GET /api/v1/me/totp", s.requireLogin(jsonAPI(s, http.StatusOK, s.getTOTP))},
		{"POST /api/v1/me/totp", s.requireLogin(jsonAPI(s, http.StatusOK, s.beginTOTP))},
		{"POST /api/v1/me/totp/confirm", s.requireLogin(jsonAPI(s, http.StatusOK, s.confirmTOTP))},
		{"GET /api/v1/me/identity-confirmation", s.requireLogin(jsonAPI(s, http.StatusOK, s.getConfirmation))},
		{"POST /api/v1/me/identity-confirmation", s.requireLogin(jsonAPI(s, http.StatusOK, s.confirmIdentity))},
		{"POST /api/v1/me/password", s.requireLogin(jsonAPI(s, http.StatusOK, s.changePassword))},
		{"DELETE /api/v1/accounts/{id}/totp", s.requireLogin(jsonAPI(s, http.StatusOK, s.resetTOTP))},
		{"GET /api/v1/security-settings", s.requireLogin(jsonAPI(s, http.StatusOK, s.getSecuritySettings))},
		{"PUT /api/v1/security-settings/platform", s.requireLogin(jsonAPI(s, http.StatusOK, s.putPlatformSettings))},
		{"PUT /api/v1/institutions/{code}/security-settings", s.requireLogin(jsonAPI(s, http.StatusOK, s.putInstitutionSettings))},
		{"GET /api/v1/retention", s.requireLogin(jsonAPI(s, http.StatusOK, s.getRetention))},
		{"PUT /api/v1/retention/{type}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putRetention))},
		{"GET /api/v1/patients", s.requireLogin(s.apiPatients)},
		{"POST /api/v1/patients", s.requireLogin(s.apiAddPatient)},
		{"GET /api/v1/patients/{id}", s.requireLogin(s.apiPatient)},
		{"POST /api/v1/patients/{id}/invites", s.requireLogin(s.apiInvite)},
		{"POST /api/v1/patients/link", s.requireLogin(s.apiLinkChild)},
		{"GET /api/v1/institutions", s.apiInstitutions},
		{"POST /api/v1/institutions", s.requireLogin(s.apiCreateInstitution)},
		{"GET /api/v1/institutions/{code}", s.apiInstitution},
		{"PUT /api/v1/institutions/{code}", s.requireLogin(s.apiUpdateInstitution)},
		{"PATCH /api/v1/institutions/{code}", s.requireLogin(s.apiPatchInstitution)},
		{"POST /api/v1/institutions/{code}/qualification", s.requireLogin(s.apiQualification)},
		{"POST /api/v1/institutions/{code}/applications", s.requireLogin(s.apiApply)},
		{"GET /api/v1/institutions/{code}/applications", s.requireLogin(jsonAPI(s, http.StatusOK, s.institutionApplications))},
		{"GET /api/v1/applications", s.requireLogin(jsonAPI(s, http.StatusOK, s.listApplications))},
		{"GET /api/v1/applications/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getApplication))},
		{"POST /api/v1/applications/{id}/documents", s.requireLogin(s.apiAddDocument)},
		{"GET /api/v1/applications/{id}/documents/{did}", s.requireLogin(s.apiDocument)},
		{"POST /api/v1/applications/{id}/decision", s.requireLogin(jsonAPI(s, http.StatusOK, s.decide))},
		{"GET /api/v1/pilots", jsonAPI(s, http.StatusOK, s.listPilots)},
		{"PUT /api/v1/pilots/{institution}/{specialty}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putPilot))},
		{"DELETE /api/v1/pilots/{institution}/{specialty}", s.requireLogin(s.apiDeletePilot)},
		{"GET /api/v1/public/institutions", jsonAPI(s, http.StatusOK, s.publicInstitutions)},
		{"PUT /api/v1/institutions/{code}/departments/{dept}", s.requireLogin(s.apiSaveDepartment)},
		{"PUT /api/v1/institutions/{code}/specialties/{spec}", s.requireLogin(s.apiSaveSpecialty)},
		{"PUT /api/v1/institutions/{code}/services/{svc}", s.requireLogin(s.apiSaveService)},
		{"GET /api/v1/institutions/{code}/practitioners", s.apiPractitioners},
		{"POST /api/v1/institutions/{code}/practitioners", s.requireLogin(s.apiCreatePractitioner)},
		{"GET /api/v1/practitioners/{id}", s.apiPractitioner},
		{"PUT /api/v1/practitioners/{id}", s.requireLogin(s.apiUpdatePractitioner)},
		{"POST /api/v1/practitioners/{id}/suspensions", s.requireLogin(s.apiSuspend)},
		{"DELETE /api/v1/practitioners/{id}/suspensions/{sid}", s.requireLogin(s.apiLift)},
		{"PUT /api/v1/practitioners/{id}/photo", s.requireLogin(s.apiPutPhoto)},
		{"GET /api/v1/practitioners/{id}/photo", s.apiPhoto},
		{"GET /api/v1/audit", s.requireLogin(s.apiAudit)},
		{"GET /api/v1/audit/verify", s.requireLogin(jsonAPI(s, http.StatusOK, s.verifyAudit))},
		{"GET /api/v1/accounts", s.requireLogin(jsonAPI(s, http.StatusOK, s.listAccounts))},
		{"POST /api/v1/accounts", s.requireLogin(jsonAPI(s, http.StatusCreated, s.createAccount))},
		{"PATCH /api/v1/accounts/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.patchAccount))},
		{"GET /api/v1/services/{svc}", s.apiService},
		{"POST /api/v1/eligibility/check", s.requireLogin(s.apiEligibility)},
		{"GET /api/v1/slots", s.apiSlots},
		{"POST /api/v1/appointments", s.requireLogin(s.apiBook)},
		{"GET /api/v1/appointments", s.requireLogin(s.apiAppointments)},
		{"GET /api/v1/appointments/{id}", s.requireLogin(s.apiAppointment)},
		{"POST /api/v1/appointments/{id}/cancel", s.requireLogin(s.apiCancel)},
		{"GET /api/v1/rules", s.requireLogin(s.apiRules)},
		{"POST /api/v1/rules", s.requireLogin(s.apiSaveRule)},
		{"PUT /api/v1/rules/{id}", s.requireLogin(s.apiSaveRule)},
		{"GET /api/v1/institutions/{code}/rules", s.requireLogin(s.apiRules)},
		{"POST /api/v1/institutions/{code}/rules", s.requireLogin(s.apiSaveRule)},
		{"PUT /api/v1/institutions/{code}/rules/{id}", s.requireLogin(s.apiSaveRule)},
		{"DELETE /api/v1/institutions/{code}/rules/{id}", s.requireLogin(s.apiDeleteRule)},
		{"GET /api/v1/institutions/{code}/doctor-reach", s.requireLogin(jsonAPI(s, http.StatusOK, s.getReach))},
		{"PUT /api/v1/institutions/{code}/doctor-reach", s.requireLogin(jsonAPI(s, http.StatusOK, s.putReach))},
		{"GET /api/v1/services/{svc}/schedules", s.requireLogin(s.apiSchedules)},
		{"POST /api/v1/services/{svc}/schedules", s.requireLogin(s.apiSaveSchedule)},
		{"DELETE /api/v1/services/{svc}/schedules/{id}", s.requireLogin(s.apiDeleteSchedule)},
		{"POST /api/v1/services/{svc}/slots/generate", s.requireLogin(s.apiGenerate)},
		{"GET /api/v1/institutions/{code}/usage", s.requireLogin(s.apiUsage)},
		{"POST /api/v1/institutions/{code}/history", s.requireLogin(s.apiImportHistory)},
		{"GET /api/v1/institutions/{code}/history/imports/{id}", s.requireLogin(s.apiImport)},
		{"POST /api/v1/institutions/{code}/mrn-links", s.requireLogin(s.apiMRNLinks)},
		{"GET /api/v1/institutions/{code}/mrns", s.requireLogin(jsonAPI(s, http.StatusOK, s.listMRNs))},
		{"PUT /api/v1/institutions/{code}/mrns/{mrn}/link", s.requireLogin(jsonAPI(s, http.StatusOK, s.relinkMRN))},
		{"POST /api/v1/me/hospital-cards", s.requireLogin(jsonAPI(s, http.StatusOK, s.bindHospitalCard))},
		{"GET /api/v1/me/hospital-cards", s.requireLogin(jsonAPI(s, http.StatusOK, s.hospitalCards))},
		{"GET /api/v1/notifications", s.requireLogin(s.apiNotifications)},
		{"GET /api/v1/monitor/sources", s.requireLogin(s.apiSources)},
		{"POST /api/v1/monitor/sources", s.requireLogin(s.apiSaveSource)},
		{"PUT /api/v1/monitor/sources/{id}", s.requireLogin(s.apiSaveSource)},
		{"POST /api/v1/monitor/crawl", s.requireLogin(s.apiCrawl)},
		{"GET /api/v1/monitor/crawl/{id}", s.requireLogin(s.apiCrawlStatus)},
		{"GET /api/v1/monitor/items", s.requireLogin(s.apiItems)},
		{"PUT /api/v1/monitor/items/{id}/override", s.requireLogin(s.apiOverride)},
		{"GET /api/v1/monitor/taxonomy", s.requireLogin(s.apiTaxonomy)},
		{"PUT /api/v1/monitor/taxonomy", s.requireLogin(s.apiSaveTaxonomy)},
		{"GET /api/v1/monitor/lexicon", s.requireLogin(s.apiLexicon)},
		{"PUT /api/v1/monitor/lexicon", s.requireLogin(s.apiSaveLexicon)},
		{"POST /api/v1/monitor/reports", s.requireLogin(s.apiDraftReport)},
		{"GET /api/v1/monitor/reports", s.requireLogin(s.apiReports)},
		{"GET /api/v1/monitor/reports/{id}", s.requireLogin(s.apiReport)},
		{"PUT /api/v1/monitor/reports/{id}", s.requireLogin(s.apiEditReport)},
		{"POST /api/v1/monitor/reports/{id}/publish", s.requireLogin(s.apiPublishReport)},
		{"GET /api/v1/visits/{id}", s.requireLogin(s.apiVisit)},
		{"PUT /api/v1/visits/{id}/pre-consult", s.requireLogin(s.apiPreConsult)},
		{"POST /api/v1/visits/{id}/attachments", s.requireLogin(s.apiAddAttachment)},
		{"GET /api/v1/visits/{id}/attachments/{aid}", s.requireLogin(s.apiAttachment)},
		{"DELETE /api/v1/visits/{id}/attachments/{aid}", s.requireLogin(s.apiDeleteAttachment)},
		{"POST /api/v1/visits/{id}/wait", s.requireLogin(s.apiWait)},
		{"POST /api/v1/visits/{id}/start", s.requireLogin(s.apiStart)},
		{"PUT /api/v1/visits/{id}/record", s.requireLogin(s.apiSaveDraft)},
		{"POST /api/v1/visits/{id}/complete", s.requireLogin(s.apiComplete)},
		{"POST /api/v1/visits/{id}/amendments", s.requireLogin(s.apiAmend)},
		{"GET /api/v1/visits/{id}/records", s.requireLogin(s.apiRecords)},
		{"GET /api/v1/visits/{id}/summary", s.requireLogin(s.apiVisitSummary)},
		{"GET /api/v1/visits/{id}/education", s.requireLogin(jsonAPI(s, http.StatusOK, s.getVisitEducation))},
		{"POST /api/v1/visits/{id}/education", s.requireLogin(jsonAPI(s, http.StatusOK, s.attachEducation))},
		{"GET /api/v1/institutions/{code}/education", jsonAPI(s, http.StatusOK, s.institutionArticles)},
		{"POST /api/v1/visits/{id}/terminate", s.requireLogin(s.apiTerminate)},
		{"POST /api/v1/visits/{id}/no-show", s.requireLogin(s.apiNoShow)},
		{"POST /api/v1/visits/{id}/skip", s.requireLogin(s.apiSkip)},
		{"GET /api/v1/visits/{id}/messages", s.requireLogin(s.apiMessages)},
		{"POST /api/v1/visits/{id}/messages", s.requireLogin(s.apiPostMessage)},
		{"POST /api/v1/visits/{id}/read", s.requireLogin(s.apiChatRead)},
		{"POST /api/v1/visits/{id}/call", s.requireLogin(s.apiCall)},
		{"GET /api/v1/visits/{id}/ice", s.requireLogin(s.apiICE)},
		{"GET /api/v1/visits/{id}/ws", s.requireLogin(s.apiWS)},
		{"POST /api/v1/visits/{id}/guests", s.requireLogin(jsonAPI(s, http.StatusCreated, s.inviteGuest))},
		{"GET /api/v1/visits/{id}/guests", s.requireLogin(jsonAPI(s, http.StatusOK, s.listGuests))},
		{"DELETE /api/v1/visits/{id}/guests/{gid}", s.requireLogin(jsonAPI(s, http.StatusOK, s.removeGuest))},
		{"POST /api/v1/visits/{id}/guests/{gid}/clinician-present", s.requireLogin(jsonAPI(s, http.StatusOK, s.clinicianPresent))},
		{"POST /api/v1/guest/join", s.apiGuestJoin},
		{"GET /api/v1/visits/{id}/guest", s.apiGuestView},
		{"GET /api/v1/visits/{id}/guest/ws", s.apiGuestWS},
		{"GET /api/v1/visits/{id}/guest/ice", s.apiGuestICE},
		{"POST /api/v1/visits/{id}/guest/leave", s.apiGuestLeave},
		{"GET /api/v1/doctor/queue", s.requireLogin(s.apiQueue)},
		{"GET /api/v1/icd10", s.apiICD},
		{"GET /api/v1/termination-reasons", s.apiReasons},
		{"PUT /api/v1/termination-reasons/{code}", s.requireLogin(s.apiSaveReason)},
		{"GET /api/v1/questionnaires", s.apiQuestionnaires},
		{"GET /api/v1/questionnaires/{code}", s.apiQuestionnaire},
		{"PUT /api/v1/questionnaires/{code}", s.requireLogin(s.apiSaveQuestionnaire)},
		{"GET /api/v1/oversight/terminations", s.requireLogin(s.apiTerminations)},
		{"GET /api/v1/sandbox/sms", s.requireLogin(s.apiSMSLog)},
		{"GET /api/v1/drugs", jsonAPI(s, http.StatusOK, s.searchDrugs)},
		{"GET /api/v1/institutions/{code}/formulary", jsonAPI(s, http.StatusOK, s.getFormulary)},
		{"PUT /api/v1/institutions/{code}/formulary", s.requireLogin(jsonAPI(s, http.StatusOK, s.putFormulary))},
		{"GET /api/v1/institutions/{code}/prescription-rules", s.requireLogin(jsonAPI(s, http.StatusOK, s.getRxRules))},
		{"PUT /api/v1/institutions/{code}/prescription-rules/{rule}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putRxRule))},
		{"GET /api/v1/institutions/{code}/prescription-settings", s.requireLogin(jsonAPI(s, http.StatusOK, s.getRxSettings))},
		{"PUT /api/v1/institutions/{code}/prescription-settings", s.requireLogin(jsonAPI(s, http.StatusOK, s.putRxSettings))},
		{"GET /api/v1/institutions/{code}/prescribing-stats", s.requireLogin(jsonAPI(s, http.StatusOK, s.prescribingStats))},
		{"POST /api/v1/visits/{id}/prescriptions", s.requireLogin(s.apiPrescribe)},
		{"POST /api/v1/visits/{id}/prescriptions/check", s.requireLogin(jsonAPI(s, http.StatusOK, s.checkPrescription))},
		{"GET /api/v1/visits/{id}/prescriptions", s.requireLogin(jsonAPI(s, http.StatusOK, s.visitPrescriptions))},
		{"GET /api/v1/prescriptions", s.requireLogin(jsonAPI(s, http.StatusOK, s.listPrescriptions))},
		{"GET /api/v1/prescriptions/{id}", s.requireLogin(s.apiPrescription)},
		{"POST /api/v1/prescriptions/{id}/review", s.requireLogin(jsonAPI(s, http.StatusOK, s.apiReview))},
		{"GET /api/v1/prescriptions/{id}/verify", jsonAPI(s, http.StatusOK, s.apiVerify)},
		{"POST /api/v1/payments", s.requireLogin(jsonAPI(s, http.StatusCreated, s.createPayment))},
		{"GET /api/v1/payments", s.requireLogin(jsonAPI(s, http.StatusOK, s.listPayments))},
		{"GET /api/v1/payments/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getPayment))},
		{"GET /api/v1/payments/{id}/invoice", s.requireLogin(s.apiInvoice)},
		{"GET /api/v1/payments/{id}/invoices", s.requireLogin(jsonAPI(s, http.StatusOK, s.paymentInvoices))},
		{"GET /api/v1/invoices", s.requireLogin(jsonAPI(s, http.StatusOK, s.listMyInvoices))},
		{"GET /api/v1/invoices/{id}", s.requireLogin(s.apiInvoiceByID)},
		{"GET /api/v1/institutions/{code}/invoices", s.requireLogin(jsonAPI(s, http.StatusOK, s.listInstitutionInvoices))},
		{"POST /api/v1/payments/notify/{provider}", s.apiPaymentNotify},
		{"POST /api/v1/refunds", s.requireLogin(jsonAPI(s, http.StatusCreated, s.createRefund))},
		{"GET /api/v1/institutions/{code}/ledger", s.requireLogin(jsonAPI(s, http.StatusOK, s.institutionLedger))},
		{"GET /api/v1/institutions/{code}/reconciliation", s.requireLogin(jsonAPI(s, http.StatusOK, s.institutionReconciliation))},
		{"POST /api/v1/prescriptions/{id}/fulfilment", s.requireLogin(jsonAPI(s, http.StatusCreated, s.chooseFulfilment))},
		{"GET /api/v1/prescriptions/{id}/order", s.requireLogin(jsonAPI(s, http.StatusOK, s.prescriptionOrder))},
		{"GET /api/v1/orders/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getOrder))},
		{"POST /api/v1/orders/{id}/dispatch", s.requireLogin(jsonAPI(s, http.StatusOK, s.dispatch))},
		{"GET /api/v1/institutions/{code}/orders", s.requireLogin(jsonAPI(s, http.StatusOK, s.institutionOrders))},
		{"GET /api/v1/institutions/{code}/delivery", jsonAPI(s, http.StatusOK, s.getDelivery)},
		{"PUT /api/v1/institutions/{code}/delivery", s.requireLogin(jsonAPI(s, http.StatusOK, s.putDelivery))},
		{"GET /api/v1/pharmacies/{code}", jsonAPI(s, http.StatusOK, s.getPharmacy)},
		{"PUT /api/v1/pharmacies/{code}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putPharmacy))},
		{"GET /api/v1/pharmacies/{code}/orders", s.requireLogin(jsonAPI(s, http.StatusOK, s.pharmacyOrders))},
		{"POST /api/v1/couriers/{provider}/events", s.apiCourierEvents},
		{"POST /api/v1/orders/{id}/receive", s.requireLogin(jsonAPI(s, http.StatusOK, s.receive))},
		{"POST /api/v1/patients/{id}/insurance", s.requireLogin(jsonAPI(s, http.StatusOK, s.bindInsurance))},
		{"GET /api/v1/patients/{id}/insurance", s.requireLogin(jsonAPI(s, http.StatusOK, s.getInsurance))},
		{"POST /api/v1/visits/{id}/rating", s.requireLogin(jsonAPI(s, http.StatusCreated, s.rateVisit))},
		{"GET /api/v1/visits/{id}/rating", s.requireLogin(jsonAPI(s, http.StatusOK, s.visitRating))},
		{"GET /api/v1/oversight/categories", s.requireLogin(jsonAPI(s, http.StatusOK, s.oversightCategories))},
		{"GET /api/v1/oversight/ratings", s.requireLogin(jsonAPI(s, http.StatusOK, s.ratingSummaries))},
		{"POST /api/v1/complaints", s.requireLogin(jsonAPI(s, http.StatusCreated, s.fileComplaint))},
		{"GET /api/v1/complaints", s.requireLogin(jsonAPI(s, http.StatusOK, s.listComplaints))},
		{"GET /api/v1/complaints/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getComplaint))},
		{"PUT /api/v1/complaints/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.stepComplaint))},
		{"POST /api/v1/adverse-events", s.requireLogin(jsonAPI(s, http.StatusCreated, s.reportAdverseEvent))},
		{"GET /api/v1/adverse-events", s.requireLogin(jsonAPI(s, http.StatusOK, s.listAdverseEvents))},
		{"GET /api/v1/adverse-events/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getAdverseEvent))},
		{"PUT /api/v1/adverse-events/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.stepAdverseEvent))},
		{"POST /api/v1/oversight/rectifications", s.requireLogin(jsonAPI(s, http.StatusCreated, s.issueRectification))},
		{"GET /api/v1/oversight/rectifications", s.requireLogin(jsonAPI(s, http.StatusOK, s.listRectifications))},
		{"GET /api/v1/oversight/rectifications/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.getRectification))},
		{"POST /api/v1/oversight/rectifications/{id}/files", s.requireLogin(s.apiAddRectFile)},
		{"GET /api/v1/oversight/rectifications/{id}/files/{fid}", s.requireLogin(s.apiRectFile)},
		{"POST /api/v1/oversight/rectifications/{id}/response", s.requireLogin(jsonAPI(s, http.StatusOK, s.respondRectification))},
		{"POST /api/v1/oversight/rectifications/{id}/verify", s.requireLogin(jsonAPI(s, http.StatusOK, s.verifyRectification))},
		{"POST /api/v1/oversight/rectifications/{id}/suspend", s.requireLogin(jsonAPI(s, http.StatusOK, s.suspendForRectification))},
		{"POST /api/v1/supervision/events", s.apiFeedReceive},
		{"GET /api/v1/supervision/events", s.requireLogin(jsonAPI(s, http.StatusOK, s.listFeedEvents))},
		{"GET /api/v1/supervision/status", s.requireLogin(jsonAPI(s, http.StatusOK, s.feedStatus))},
		{"GET /api/v1/supervision/sources", s.requireLogin(jsonAPI(s, http.StatusOK, s.listFeedSources))},
		{"PUT /api/v1/supervision/sources/{institution}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putFeedSource))},
		{"GET /api/v1/institutions/{code}/supervision-key", s.requireLogin(jsonAPI(s, http.StatusOK, s.institutionFeedKey))},
		{"GET /api/v1/oversight/dashboard", s.requireLogin(jsonAPI(s, http.StatusOK, s.dashboard))},
		{"POST /api/v1/oversight/visits/{id}/inspect", s.requireLogin(jsonAPI(s, http.StatusOK, s.inspectVisit))},
		{"POST /api/v1/oversight/bulletins", s.requireLogin(jsonAPI(s, http.StatusCreated, s.draftBulletin))},
		{"GET /api/v1/oversight/bulletins", jsonAPI(s, http.StatusOK, s.listBulletins)},
		{"GET /api/v1/oversight/bulletins/{id}", s.apiBulletin},
		{"PUT /api/v1/oversight/bulletins/{id}", s.requireLogin(jsonAPI(s, http.StatusOK, s.editBulletin))},
		{"POST /api/v1/oversight/bulletins/{id}/publish", s.requireLogin(jsonAPI(s, http.StatusOK, s.publishBulletin))},
		{"POST /api/v1/visits/{id}/referrals", s.requireLogin(jsonAPI(s, http.StatusCreated, s.createReferral))},
		{"GET /api/v1/referrals", s.requireLogin(jsonAPI(s, http.StatusOK, s.listReferrals))},
		{"POST /api/v1/referrals/{id}/decision", s.requireLogin(jsonAPI(s, http.StatusOK, s.decideReferral))},
		{"POST /api/v1/referrals/{id}/cancel", s.requireLogin(jsonAPI(s, http.StatusOK, s.cancelReferral))},
		{"POST /api/v1/patients/{id}/consents", s.requireLogin(jsonAPI(s, http.StatusCreated, s.grantConsent))},
		{"GET /api/v1/patients/{id}/consents", s.requireLogin(jsonAPI(s, http.StatusOK, s.listConsents))},
		{"POST /api/v1/patients/{id}/consents/{cid}/revoke", s.requireLogin(jsonAPI(s, http.StatusOK, s.revokeConsent))},
		{"GET /api/v1/patients/{id}/shared-records", s.requireLogin(jsonAPI(s, http.StatusOK, s.sharedRecords))},
		{"GET /api/v1/me/record-reads", s.requireLogin(jsonAPI(s, http.StatusOK, s.recordReads))},
		{"GET /api/v1/notifiable-diseases", jsonAPI(s, http.StatusOK, s.listNotifiable)},
		{"PUT /api/v1/notifiable-diseases/{code}", s.requireLogin(jsonAPI(s, http.StatusOK, s.putNotifiable))},
		{"GET /api/v1/cdc/reports", s.requireLogin(jsonAPI(s, http.StatusOK, s.cdcReports))},
		{"POST /api/v1/sandbox/cdc", s.apiCDCSandboxReceive},
		{"GET /api/v1/sandbox/cdc", s.requireLogin(jsonAPI(s, http.StatusOK, s.cdcSandboxReceived))},
	}
}

func (s *Server) apiRoutes(mux *http.ServeMux) {
	for _, r := range s.apiTable() {
		mux.HandleFunc(r.pattern, r.handler)
	}
}

// record appends an audit entry for the request; an access whose audit
// record cannot be written is not served.
func (s *Server) record(r *http.Request, action, objType, objID, institution, detail string) error {
	return s.audit.Record(r.Context(), *s.entry(r, action, objType, objID, institution, detail))
}

// entry is the audit entry of the request's actor doing action, for a
// write that commits it in its own transaction.
func (s *Server) entry(r *http.Request, action, objType, objID, institution, detail string) *audit.Entry {
	a := actor(r)
	return &audit.Entry{At: s.cfg.Now().UTC().Truncate(time.Microsecond), ActorID: a.ID, ActorRole: string(a.Role), Action: action,
		ObjectType: objType, ObjectID: objID, Institution: institution, IP: clientIP(r), Detail: detail}
}

// --- accounts and patients ---

type accountJSON struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	Role        string `json:"role"`
	Institution string `json:"institution,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

func accountOut(a *identity.Account) accountJSON {
	return accountJSON{ID: a.ID, Username: a.Username, Role: string(a.Role), Institution: a.Institution, Phone: a.Phone}
}

// patientJSON is a patient as the API and the pages show it. ResidentID is
// masked to its first and last characters (identity.MaskResidentID): the
// birth date and sex beside it are exactly what a wider mask hides, and
// together they must not rebuild the ID (issue 15, N-19).
type patientJSON struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	ResidentID string `json:"resident_id"`
	BirthDate  string `json:"birth_date"`
	Sex        string `json:"sex"`
	Age        int    `json:"age"`
	Phone      string `json:"phone,omitempty"`
	Relation   string `json:"relation,omitempty"`
}

func (s *Server) patientOut(p *identity.Patient) patientJSON {
	return patientJSON{ID: p.ID, Name: p.Name, ResidentID: identity.MaskResidentID(p.ResidentID), BirthDate: p.Birth.Format("2006-01-02"),
		Sex: string(p.Sex), Age: p.Age(s.cfg.Now()), Phone: p.Phone, Relation: string(p.Relation)}
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if err := s.ids.Logout(r.Context(), ri.token); err != nil {
		s.fail(w, r, err)
		return
	}
	s.loggedOut(ri.token)
	s.record(r, "auth.logout", "account", ri.account.Username, ri.account.Institution, "")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, accountOut(info(r).account))
}

func (s *Server) apiPatients(w http.ResponseWriter, r *http.Request) {
	ps, err := s.ids.Store.PatientsOf(r.Context(), actor(r).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]patientJSON, 0, len(ps))
	ids := ""
	for i := range ps {
		out = append(out, s.patientOut(&ps[i]))
		s.links.Put(strconv.FormatInt(actor(r).ID, 10)+":"+strconv.FormatInt(ps[i].ID, 10), &ps[i]) // the next step is booking for one of them
		if i > 0 {
			ids += ","
		}
		ids += strconv.FormatInt(ps[i].ID, 10)
	}
	if err := s.record(r, "patient.list", "patient", ids, "", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// invite makes a guardian invitation for a child of the caller (audited).
func (s *Server) invite(r *http.Request, patientID int64) (*identity.Invite, error) {
	inv, err := s.ids.InviteGuardian(r.Context(), s.db, info(r).account, patientID)
	if err != nil {
		return nil, err
	}
	return inv, s.record(r, "patient.invite", "patient", strconv.FormatInt(patientID, 10), "", "")
}

// redeem links the caller to the child of an invitation code (audited).
func (s *Server) redeem(r *http.Request, code string) (*identity.Patient, error) {
	p, err := s.ids.RedeemInvite(r.Context(), s.db, info(r).account, code)
	if err != nil {
		return nil, err
	}
	// The child's guardians changed: cached lists of them go, here and on
	// the other servers.
	s.links.Drop("accounts:" + strconv.FormatInt(p.ID, 10))
	s.changed("links", "", p.ID)
	return p, s.record(r, "patient.link", "patient", strconv.FormatInt(p.ID, 10), "", "guardian")
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	inv, err := s.invite(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, inv)
}

func (s *Server) apiLinkChild(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.redeem(r, in.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.patientOut(p))
}

// loadPatient returns a patient the actor may see, or not_found: a foreign
// patient is indistinguishable from a missing one. The read is audited.
func (s *Server) loadPatient(r *http.Request, idStr string) (*identity.Patient, error) {
	p, err := s.patientOf(r, idStr)
	if err != nil {
		return nil, err
	}
	return p, s.record(r, "patient.read", "patient", idStr, "", "")
}

// patientOf is loadPatient for a use that audits the access itself (a
// booking's entry names the patient). Links of a patient to an account
// only ever get added, so a found link is cached for a few seconds.
func (s *Server) patientOf(r *http.Request, idStr string) (*identity.Patient, error) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return nil, errs.E(errs.NotFound)
	}
	a := actor(r)
	if a.Role != identity.RolePatient {
		s.record(r, "patient.read.denied", "patient", idStr, "", "")
		return nil, errs.E(errs.NotFound)
	}
	v, err := s.links.Get(r.Context(), strconv.FormatInt(a.ID, 10)+":"+idStr, func(ctx context.Context) (any, error) { return s.ids.Store.AccountPatient(ctx, a.ID, id) })
	if errs.Is(err, errs.NotFound) {
		s.record(r, "patient.read.denied", "patient", idStr, "", "")
	}
	if err != nil {
		return nil, err
	}
	p := *v.(*identity.Patient)
	return &p, nil
}

func (s *Server) apiPatient(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadPatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.patientOut(p))
}

// --- audit ---

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	inst := q.Get("institution")
	a := actor(r)
	if a.Role == identity.RoleInstitutionAdmin && inst == "" {
		inst = a.Institution
	}
	if !authz.SeeAudit(a, inst) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	entries, err := s.db.QueryAudit(r.Context(), audit.Filter{Institution: inst, ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(r, "audit.read", "audit", "", inst, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": entries})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	b, _ := assets.ReadFile("openapi.json")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// today is the civil date in Beijing.
func (s *Server) today() time.Time { return s.cfg.Now() }
